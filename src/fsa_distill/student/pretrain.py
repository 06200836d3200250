"""Distillation pretraining: continue training the student as a seq2seq model, review -> teacher text.

The recipe of reference-system.md §1a on the Hugging Face Trainer: pairs from `corpus.py`,
length-grouped batches from `sampler.py`, AdamWScale and the cosine schedule from `optim.py`,
gradient accumulation, clipping, bf16 where the hardware has it, DDP under torchrun or
`accelerate launch` (gloo on CPU). Validation is the teacher-forced loss on a held-out teacher
sample; checkpoints keep the last k plus the best by validation loss (the reference kept ~100 full
copies), and a run resumes from its last complete checkpoint with the same data order.

What a run writes into `output_dir`:
    config.yaml        the resolved config (a re-run with the same config resumes or skips)
    checkpoints/       Trainer checkpoints (model, optimizer, scheduler, RNG, trainer state)
    best_model/        the checkpoint with the lowest validation loss, as a plain model folder
    final_model/       the model after the last step: what `finetune --model` takes
    loss_curve.json    train and validation loss by step (also loss_curve.csv)
    summary.json       final/best validation loss, steps, tokens/s, padding fraction, wall time

    fsa-distill pretrain configs/pretrain/tiny-sample.yaml train.max_steps=60
    torchrun --nproc_per_node 2 -m fsa_distill.cli pretrain configs/pretrain/tiny-sample.yaml
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Literal, Optional, Union

from pydantic import Field, field_validator

from fsa_distill.config import StrictConfig, add_config_args, dump_config, load_config, split_config_args
from fsa_distill.errors import FsaError
from fsa_distill.limits import clip
from fsa_distill.resources import check_output_dir
from fsa_distill.student.models import check_model_spec, check_weights

log = logging.getLogger(__name__)

SAMPLE = "builtin:teacher-sample"  # the 500 recorded Mixtral answers shipped in the package
DEFAULT_PREFIXES = {"analysis": "analyse sentiment: ", "rewrite": "rewrite review: "}
# Files of a Trainer checkpoint that a plain model folder does not need.
TRAINING_STATE_FILES = ("optimizer.pt", "scheduler.pt", "scaler.pt", "trainer_state.json", "training_args.bin")


# ------------------------------------------------------------------------------------- config
class PretrainData(StrictConfig):
    corpus: list[str] = [SAMPLE]  # files or folders of JSONL(.gz); see corpus.py for the formats
    max_source_length: int = Field(128, ge=1)
    max_target_length: int = Field(400, ge=2)
    task_prefix: bool = False  # ablation: prefix the source with what the target is
    prefixes: dict[str, str] = dict(DEFAULT_PREFIXES)
    kind_weights: dict[Literal["analysis", "rewrite"], float] = {}  # unnamed kinds weigh 1
    domain_weights: dict[str, float] = {}  # unnamed domains weigh 1
    validation: str = SAMPLE  # held-out teacher answers for the validation loss
    validation_holdout: int = Field(0, ge=0)  # >0: hold out this many corpus reviews instead
    # Corpus-size ablation: train on this many records (after the validation split), a seeded
    # sample; the samples are nested (the 100 are among the 250), so sizes compare cleanly.
    max_records: int | None = Field(None, ge=1)

    @field_validator("corpus", mode="before")
    @classmethod
    def _one_or_many(cls, v):
        return [v] if isinstance(v, str) else v

    @field_validator("kind_weights", "domain_weights")
    @classmethod
    def _non_negative(cls, v):
        bad = {k: w for k, w in v.items() if w < 0}
        if bad:
            raise ValueError(f"weights must be >= 0 ({bad})")
        return v


class PretrainTrain(StrictConfig):
    max_steps: int = Field(200_000, ge=1)  # optimizer steps
    batch_size: int = Field(20, ge=1)  # per device, per micro-batch
    grad_accum: int = Field(5, ge=1)  # effective batch = batch_size x grad_accum x processes
    optimizer: Literal["adamw_scale", "adamw"] = "adamw_scale"
    lr: float = Field(3e-3, gt=0)  # nominal
    final_lr: float = Field(1e-5, ge=0)
    warmup_steps: int = Field(0, ge=0)
    reference_lr_quirk: bool = False  # start the cosine at lr/2 as the reference really did
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    bf16: Union[bool, Literal["auto"]] = "auto"  # auto: on where a CUDA device supports it
    length_grouping: bool = True  # false: shuffled batches, as the reference
    group_size: int = Field(64, ge=1)  # batches per length-sorted megabatch
    eval_steps: int = Field(2000, ge=1)  # validate and checkpoint every N optimizer steps
    eval_batch_size: int = Field(80, ge=1)
    keep_checkpoints: int = Field(2, ge=1)  # the last k; the best is kept in addition
    logging_steps: int = Field(50, ge=1)
    num_workers: int = Field(0, ge=0)


class PretrainConfig(StrictConfig):
    model: str = "tiny"  # student: preset name, folder or hub id
    output_dir: str
    seed: int = 42
    data: PretrainData = PretrainData()
    train: PretrainTrain = PretrainTrain()


# ---------------------------------------------------------------------------------------- data
def _corpus_paths(items: list[str]) -> list[Path]:
    from fsa_distill.resources import teacher_sample_path
    return [teacher_sample_path() if p == SAMPLE else Path(p) for p in items]


def _check_corpus_paths(cfg: PretrainConfig) -> None:
    """Every corpus and validation file exists (cheap: no record is read), before the student loads."""
    from fsa_distill.student import corpus

    corpus.corpus_files(_corpus_paths(cfg.data.corpus))
    if not cfg.data.validation_holdout:
        corpus.corpus_files(_corpus_paths([cfg.data.validation]))


def load_pairs(cfg: PretrainConfig, tokenizer) -> dict:
    """Train and validation datasets plus what the summary reports about them."""
    from fsa_distill.student import corpus

    records = corpus.read_records(_corpus_paths(cfg.data.corpus))
    if cfg.data.validation_holdout:
        train_recs, val_recs = corpus.split_holdout(records, cfg.data.validation_holdout, cfg.seed)
        leaked = 0
    else:
        val_recs = corpus.read_records(_corpus_paths([cfg.data.validation]))
        # Never train on a validation review (the shipped sample is drawn from the same pool).
        train_recs, leaked = corpus.drop_reviews(records, (r.text for r in val_recs))
    if leaked:
        log.info("dropped %d corpus records whose review is in the validation set", leaked)
    if cfg.data.max_records is not None:
        train_recs = corpus.nested_sample(train_recs, cfg.data.max_records, cfg.seed)
    train_recs = corpus.mix(train_recs, cfg.data.kind_weights, cfg.data.domain_weights, seed=cfg.seed)
    if not train_recs:
        raise FsaError("no training pairs left after the validation split and mixing weights")
    prefixes = cfg.data.prefixes if cfg.data.task_prefix else None
    lengths = dict(max_source_length=cfg.data.max_source_length, max_target_length=cfg.data.max_target_length,
                   prefixes=prefixes)
    return {
        "train": corpus.tokenize_pairs(train_recs, tokenizer, **lengths),
        "validation": corpus.tokenize_pairs(val_recs, tokenizer, **lengths),
        "teachers": corpus.teacher_ids(records),
        "train_stats": {**corpus.describe(train_recs), "dropped_validation_reviews": leaked},
        "validation_records": len(val_recs),
    }


# ------------------------------------------------------------------------------------- trainer
def _make_trainer_class():
    from transformers import Trainer

    from fsa_distill.student.sampler import LengthGroupedSampler

    class PretrainTrainer(Trainer):
        """Trainer with our length-grouped sampler and a count of real target tokens."""

        def __init__(self, *args, length_sampler: Optional[LengthGroupedSampler] = None, **kwargs):
            super().__init__(*args, **kwargs)
            self.length_sampler = length_sampler
            self.target_tokens = 0
            # T5's forward takes **kwargs, so the Trainer assumes it normalises its loss by
            # `num_items_in_batch` and stops dividing by the accumulation steps; T5 ignores that
            # argument and returns a per-batch mean. Without this, gradients would be grad_accum
            # times too large. With it, each step averages its micro-batch means as the reference
            # (Lightning) did.
            self.model_accepts_loss_kwargs = False

        def _get_train_sampler(self, train_dataset=None):
            if self.length_sampler is not None:
                return self.length_sampler
            return super()._get_train_sampler(train_dataset)

        def training_step(self, model, inputs, num_items_in_batch=None):
            self.target_tokens += int((inputs["labels"] != -100).sum())
            return super().training_step(model, inputs, num_items_in_batch)

    return PretrainTrainer


def _use_bf16(setting) -> bool:
    import torch

    has = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if setting == "auto":
        return has
    if setting and not has:
        raise FsaError("train.bf16=true needs a CUDA device with bf16; use train.bf16=auto")
    return bool(setting)


def last_complete_checkpoint(ckpt_dir: Path) -> Optional[Path]:
    """The newest checkpoint whose trainer state was written (the Trainer writes it last), so a
    run killed while saving resumes from the one before."""
    if not ckpt_dir.is_dir():
        return None
    done = [p for p in ckpt_dir.glob("checkpoint-*") if (p / "trainer_state.json").exists()
            and p.name.split("-")[-1].isdigit()]
    return max(done, key=lambda p: int(p.name.split("-")[-1]), default=None)


def _remove_incomplete_checkpoints(ckpt_dir: Path) -> None:
    for p in ckpt_dir.glob("checkpoint-*"):
        if p.is_dir() and not (p / "trainer_state.json").exists():
            log.info("removing incomplete checkpoint %s", p)
            shutil.rmtree(p, ignore_errors=True)


def _export_model_folder(src: Path, dst: Path, meta: dict) -> None:
    """A Trainer checkpoint -> a plain model folder (weights, config, tokenizer, metadata)."""
    from fsa_distill.student.models import META_FILE

    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, ignore=lambda d, names: [n for n in names if n in TRAINING_STATE_FILES
                                                        or n.startswith("rng_state")])
    (tmp / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    _write_model_card(tmp, meta)
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)


def _write_model_card(folder: Path, meta: dict) -> None:
    teacher = meta.get("teacher") or "unknown"
    lines = ["# Distilled sentiment student (fsa-distill)", "",
             f"Continued pretraining of `{meta.get('base_model')}` as a seq2seq model from reviews to the "
             f"teacher's sentiment analyses and rewrites (fsa-distill pretrain).", "",
             f"- teacher: {teacher}", f"- corpus: {', '.join(meta.get('corpus') or [])}",
             f"- optimizer steps: {meta.get('steps')}", ""]
    if meta.get("validation_loss") is not None:
        lines.insert(-1, f"- validation loss: {meta['validation_loss']:.4f}")
    (folder / "README.md").write_text("\n".join(lines), encoding="utf-8")


def _loss_curve(log_history: list[dict]) -> list[dict]:
    rows: dict[int, dict] = {}
    for entry in log_history:
        step = entry.get("step")
        if step is None:
            continue
        row = rows.setdefault(step, {"step": step, "train_loss": None, "val_loss": None, "lr": None})
        if "loss" in entry:
            row["train_loss"] = entry["loss"]
            row["lr"] = entry.get("learning_rate")
        if "eval_loss" in entry:
            row["val_loss"] = entry["eval_loss"]
    return [rows[s] for s in sorted(rows)]


def _write_loss_curve(out: Path, rows: list[dict]) -> None:
    (out / "loss_curve.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    with open(out / "loss_curve.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["step", "train_loss", "val_loss", "lr"])
        w.writeheader()
        w.writerows(rows)


def _check_output_dir(cfg: PretrainConfig, out: Path) -> Optional[dict]:
    """A finished run with the same config is returned as is; a different config in a folder that
    already holds checkpoints is an error (resuming it would mix two runs)."""
    import yaml

    cfg_file = out / "config.yaml"
    if not cfg_file.exists():
        return None
    previous = yaml.safe_load(cfg_file.read_text(encoding="utf-8"))
    same = previous == cfg.model_dump(mode="json")
    if same and (out / "summary.json").exists() and (out / "final_model" / "config.json").exists():
        return json.loads((out / "summary.json").read_text(encoding="utf-8"))
    if not same and (last_complete_checkpoint(out / "checkpoints") or (out / "final_model").exists()):
        raise FsaError(f"{out}: holds a run with a different config (see its config.yaml); "
                       "choose another output_dir or delete it")
    return None


def _train(trainer, resume: Optional[Path]):
    """trainer.train, resuming from `resume`. Torch loads a checkpoint's optimizer, scheduler and
    RNG state with weights_only=True and refuses any other pickle: that refusal (a checkpoint
    tampered with, or written by another program) becomes one line naming the checkpoint."""
    import pickle

    try:
        return trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    except pickle.UnpicklingError as e:
        if resume is None:
            raise
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise FsaError(f"{resume}: a checkpoint file holds data torch refuses to load safely ({clip(first, 160)}); "
                       "delete this checkpoint folder to resume from an earlier one") from None


# ------------------------------------------------------------------------------------ pretrain
def pretrain(cfg: PretrainConfig, progress: bool = True, callbacks: Optional[list] = None) -> dict:
    """Run (or resume, or skip if finished) distillation pretraining; returns the summary.

    `callbacks`: extra `transformers.TrainerCallback`s (loggers, early stopping, ...)."""
    import torch
    from transformers import TrainingArguments, set_seed

    from fsa_distill.student.models import load_student, save_student
    from fsa_distill.student.optim import build_optimizer, build_scheduler
    from fsa_distill.student.sampler import LengthGroupedSampler, Seq2SeqCollator, padding_stats, shuffled_batches

    out = check_output_dir(Path(cfg.output_dir), "output_dir")
    check_model_spec(cfg.model)
    _check_corpus_paths(cfg)
    done = _check_output_dir(cfg, out)
    if done is not None:
        log.info("%s: finished run with the same config, skipping", out)
        return done
    t_start = time.time()
    ckpt_dir = out / "checkpoints"
    tr = cfg.train
    cuda = torch.cuda.is_available()
    # Launched by torchrun / accelerate launch: data-parallel, over gloo where there is no GPU.
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    args = TrainingArguments(
        output_dir=str(ckpt_dir), max_steps=tr.max_steps, per_device_train_batch_size=tr.batch_size,
        gradient_accumulation_steps=tr.grad_accum, per_device_eval_batch_size=tr.eval_batch_size,
        eval_strategy="steps", eval_steps=tr.eval_steps, save_strategy="steps", save_steps=tr.eval_steps,
        save_total_limit=tr.keep_checkpoints, metric_for_best_model="eval_loss", greater_is_better=False,
        load_best_model_at_end=False, prediction_loss_only=True, logging_steps=tr.logging_steps,
        max_grad_norm=tr.max_grad_norm, bf16=_use_bf16(tr.bf16), seed=cfg.seed, data_seed=cfg.seed,
        report_to=[], dataloader_num_workers=tr.num_workers, disable_tqdm=not progress,
        ddp_backend="gloo" if distributed and not cuda else None, ddp_find_unused_parameters=False, use_cpu=not cuda,
    )
    main = args.process_index == 0
    if main:
        out.mkdir(parents=True, exist_ok=True)
        dump_config(cfg, out / "config.yaml")
        _remove_incomplete_checkpoints(ckpt_dir)
    set_seed(cfg.seed)
    with args.main_process_first(desc="loading the student"):  # a preset is built once, not per rank
        model, tokenizer = load_student(cfg.model)
    data = load_pairs(cfg, tokenizer)
    train_ds, val_ds = data["train"], data["validation"]
    src_len, tgt_len = train_ds["source_length"], train_ds["target_length"]

    sampler = None
    if tr.length_grouping:
        sampler = LengthGroupedSampler(tgt_len, src_len, batch_size=tr.batch_size, seed=cfg.seed,
                                       group_size=tr.group_size)
        batches = sampler.batches(epoch=0)
    else:
        batches = shuffled_batches(len(tgt_len), tr.batch_size, cfg.seed)
    padding = padding_stats(batches, src_len, tgt_len).as_dict()
    padding_shuffled = padding_stats(shuffled_batches(len(tgt_len), tr.batch_size, cfg.seed), src_len, tgt_len)
    padding["padding_fraction_shuffled_batches"] = round(padding_shuffled.fraction, 4)
    log.info("%d training pairs, %d validation; padding %.1f%% of batch slots (shuffled batches: %.1f%%)",
             len(train_ds), len(val_ds), 100 * padding["padding_fraction"], 100 * padding_shuffled.fraction)

    optimizer = build_optimizer(model, tr.optimizer, tr.lr, tr.weight_decay)
    scheduler = build_scheduler(optimizer, total_steps=tr.max_steps, final_lr=tr.final_lr,
                                warmup_steps=tr.warmup_steps, reference_lr_quirk=tr.reference_lr_quirk)
    trainer = _make_trainer_class()(
        model=model, args=args, train_dataset=train_ds, eval_dataset=val_ds, processing_class=tokenizer,
        data_collator=Seq2SeqCollator(tokenizer.pad_token_id), optimizers=(optimizer, scheduler),
        length_sampler=sampler, callbacks=callbacks,
    )
    resume = last_complete_checkpoint(ckpt_dir)
    if resume is not None:
        log.info("resuming from %s", resume)
        check_weights(resume)
    result = _train(trainer, resume)

    state = trainer.state
    if not any(e.get("step") == state.global_step and "eval_loss" in e for e in state.log_history):
        trainer.evaluate()  # the last step was not a validation step
    final_val = next(e["eval_loss"] for e in reversed(state.log_history) if "eval_loss" in e)
    tokens = trainer.accelerator.reduce(torch.tensor(float(trainer.target_tokens)), reduction="sum").item()
    runtime = result.metrics.get("train_runtime") or 0.0

    summary = None
    if main:
        meta = {"kind": "pretrained", "base_model": cfg.model,
                "corpus": [str(p) for p in _corpus_paths(cfg.data.corpus)],
                "teacher": ", ".join(data["teachers"]) or None, "steps": state.global_step}
        final_dir = out / "final_model"
        save_student(trainer.accelerator.unwrap_model(trainer.model), tokenizer, final_dir,
                     meta={**meta, "validation_loss": final_val})
        _write_model_card(final_dir, {**meta, "validation_loss": final_val})
        best_val, best_step = final_val, state.global_step
        if state.best_model_checkpoint and state.best_metric is not None and state.best_metric < final_val \
                and Path(state.best_model_checkpoint).exists():
            best_val = state.best_metric
            best_step = int(Path(state.best_model_checkpoint).name.split("-")[-1])
            _export_model_folder(Path(state.best_model_checkpoint), out / "best_model",
                                 {**meta, "steps": best_step, "validation_loss": best_val})
        else:  # the final model is the best one
            _export_model_folder(final_dir, out / "best_model", {**meta, "validation_loss": final_val})
        _write_loss_curve(out, _loss_curve(state.log_history))
        summary = {
            "steps": state.global_step,
            "final_val_loss": final_val, "best_val_loss": best_val, "best_step": best_step,
            "final_train_loss": next((e["loss"] for e in reversed(state.log_history) if "loss" in e), None),
            "target_tokens_per_s": round(tokens / runtime, 1) if runtime else None,
            "target_tokens_trained_this_session": int(tokens),
            **padding,
            "effective_batch": tr.batch_size * tr.grad_accum * args.world_size,
            "processes": args.world_size, "bf16": args.bf16,
            "train_pairs": len(train_ds), "validation_pairs": len(val_ds), "train_data": data["train_stats"],
            "teacher": meta["teacher"], "resumed_from": str(resume) if resume else None,
            "train_runtime_s": round(runtime, 2), "wall_time_s": round(time.time() - t_start, 2),
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        log.info("pretraining done: %s", json.dumps({k: summary[k] for k in (
            "steps", "final_val_loss", "best_val_loss", "target_tokens_per_s", "padding_fraction")}))
    trainer.accelerator.wait_for_everyone()  # no rank exits before the model is written
    return summary if summary is not None else {"steps": state.global_step, "final_val_loss": final_val}


# ---------------------------------------------------------------------------------------- CLI
def _cmd_pretrain(args: argparse.Namespace) -> int:
    path, overrides = split_config_args(args)
    cfg = load_config(PretrainConfig, path, overrides)
    summary = pretrain(cfg, progress=not args.no_progress)
    if "best_val_loss" in summary:  # the main process prints; the others return a short summary
        print(json.dumps(summary, indent=2))
    return 0


def register_pretrain(sub) -> None:
    """Add `pretrain [CONFIG.yaml] [key=value ...]` to the CLI's subparsers."""
    p = sub.add_parser(
        "pretrain", help="distillation pretraining: train the student on a teacher corpus",
        description="Continue pretraining a seq2seq student on (review -> teacher answer) pairs. "
        "Run it under torchrun or `accelerate launch` to train data-parallel. A re-run resumes from the "
        "last checkpoint in output_dir.",
    )
    add_config_args(p, "configs/pretrain/tiny-sample.yaml", "train.max_steps=100")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_pretrain)


def main(argv: Optional[list[str]] = None) -> int:
    """`python -m fsa_distill.student.pretrain ...`: the pretrain command on its own."""
    parser = argparse.ArgumentParser(prog="fsa-distill")
    register_pretrain(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["pretrain", *(sys.argv[1:] if argv is None else argv)])
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except FsaError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code


if __name__ == "__main__":
    sys.exit(main())
