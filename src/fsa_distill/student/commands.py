"""`fsa-distill build-student`, `pretrain` and `finetune`."""

from __future__ import annotations

import json

from fsa_distill.cli_args import add_config_args, add_progress_flag, split_config_args
from fsa_distill.config import load_config
from fsa_distill.ui import print_table


def register(sub) -> None:
    b = sub.add_parser("build-student", help="build a student preset (tiny, minilm) into a folder, offline")
    b.add_argument("preset")
    b.add_argument("--output", required=True)
    b.add_argument("--seed", type=int, default=0)
    b.set_defaults(func=run_build)

    p = sub.add_parser(
        "pretrain", help="distillation pretraining: train the student on a teacher corpus",
        description="Continue pretraining a seq2seq student on (review -> teacher answer) pairs. "
        "Run it under torchrun or `accelerate launch` to train data-parallel. A re-run resumes from the "
        "last checkpoint in output_dir.")
    add_config_args(p, "configs/pretrain/tiny-sample.yaml", "train.max_steps=100")
    add_progress_flag(p)
    p.set_defaults(func=run_pretrain)

    f = sub.add_parser("finetune", help="fine-tune and evaluate one (task, dataset, seed)",
                       description="Fine-tune a student on ATSA/ACSA with the reference hyperparameters and "
                       "evaluate the best dev epoch on every view. Example: fsa-distill finetune "
                       "configs/finetune/rest14-tiny.yaml seed=52 train.epochs=5")
    add_config_args(f, "configs/finetune/rest14-tiny.yaml", "train.epochs=3 seed=52")
    add_progress_flag(f)
    f.set_defaults(func=run_finetune)


def run_build(args) -> int:
    from fsa_distill.models import build_preset

    out = build_preset(args.preset, args.output, seed=args.seed)
    print(f"built the {args.preset!r} student into {out}")
    return 0


def run_pretrain(args) -> int:
    from fsa_distill.student.pretrain import PretrainConfig, pretrain

    path, overrides = split_config_args(args)
    summary = pretrain(load_config(PretrainConfig, path, overrides), progress=not args.quiet)
    if "best_val_loss" in summary:  # the main process prints; the others return a short summary
        print(json.dumps(summary, indent=2))
    return 0


def run_finetune(args) -> int:
    from fsa_distill.evaluation.evaluate import SUMMARY_COLUMNS, summary_rows
    from fsa_distill.student.finetune import FinetuneConfig, finetune

    config, overrides = split_config_args(args)
    cfg = load_config(FinetuneConfig, config, overrides)
    result = finetune(cfg, progress=not args.quiet)
    info = result["info"]
    print_table(f"{cfg.task}/{cfg.dataset} seed {cfg.seed}: best epoch {info['best_epoch']} "
                f"(dev F1 {100 * info['best_dev_f1']:.2f}); 'normal' is comparable with the reference",
                SUMMARY_COLUMNS, summary_rows(result["metrics"]))
    print(json.dumps({"run_dir": result["run_dir"], "f1": {v: m["f1"] for v, m in result["metrics"].items()}}))
    return 0
