"""`fsa-distill build-student`, `pretrain` and `finetune`."""

from __future__ import annotations

import json

from fsa_distill.config import add_config_args, split_config_args
from fsa_distill.ui import print_table


def register(sub) -> None:
    b = sub.add_parser("build-student", help="build a student preset (tiny, minilm) into a folder, offline")
    b.add_argument("preset")
    b.add_argument("--output", required=True)
    b.add_argument("--seed", type=int, default=0)
    b.set_defaults(func=run_build)

    try:
        from fsa_distill.student.pretrain import register_pretrain
    except ModuleNotFoundError as e:
        if e.name != "fsa_distill.student.pretrain":
            raise
    else:
        register_pretrain(sub)

    f = sub.add_parser("finetune", help="fine-tune and evaluate one (task, dataset, seed)",
                       description="Fine-tune a student on ATSA/ACSA with the reference hyperparameters and "
                       "evaluate the best dev epoch on every view. Example: fsa-distill finetune "
                       "configs/finetune/rest14-tiny.yaml seed=52 train.epochs=5")
    add_config_args(f, "configs/finetune/rest14-tiny.yaml", "train.epochs=3 seed=52")
    f.add_argument("--quiet", action="store_true", help="no progress bars")
    f.set_defaults(func=run_finetune)


def run_build(args) -> int:
    from fsa_distill.student.models import _load_optional_presets, build_preset

    _load_optional_presets()
    out = build_preset(args.preset, args.output, seed=args.seed)
    print(f"built the {args.preset!r} student into {out}")
    return 0


def run_finetune(args) -> int:
    from fsa_distill.config import load_config
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
