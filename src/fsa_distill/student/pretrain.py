"""Distillation pretraining: continue training the student as a seq2seq model, review -> teacher text.

The recipe of docs/reference.md (pretraining) on the Hugging Face Trainer: pairs from `pretrain_data.py`,
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

The recipe reads top to bottom in `PretrainRecipe`: setup (arguments, student, pairs, batches,
trainer), train (resuming from the last complete checkpoint), save (final and best model folders,
loss curve, summary). The config is in pretrain_config.py; checkpoints, the export of a
checkpoint as a model folder and its card in checkpoints.py.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Optional

from fsa_distill import runs
from fsa_distill.errors import FsaError
from fsa_distill.models.folder import check_model_spec, check_weights
from fsa_distill.resources import check_output_dir
from fsa_distill.student.checkpoints import (  # noqa: F401  (last_complete_checkpoint: part of this API)
    export_model_folder,
    last_complete_checkpoint,
    loss_curve,
    remove_incomplete_checkpoints,
    train_resuming,
)
from fsa_distill.student.cards import write_pretrain_card
from fsa_distill.student.pretrain_config import (  # noqa: F401  (the config, importable from here)
    SAMPLE,
    PretrainConfig,
    PretrainData,
    PretrainTrain,
)

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------- data
def _corpus_paths(items: list[str]) -> list[Path]:
    from fsa_distill.resources import teacher_sample_path
    return [teacher_sample_path() if p == SAMPLE else Path(p) for p in items]


def _check_corpus_paths(cfg: PretrainConfig) -> None:
    """Every corpus and validation file exists (cheap: no record is read), before the student loads."""
    from fsa_distill.student import pretrain_data as corpus

    corpus.corpus_files(_corpus_paths(cfg.data.corpus))
    if not cfg.data.validation_holdout:
        corpus.corpus_files(_corpus_paths([cfg.data.validation]))


def load_pairs(cfg: PretrainConfig, tokenizer) -> dict:
    """Train and validation datasets plus what the summary reports about them."""
    from fsa_distill.student import pretrain_data as corpus

    records = corpus.read_records(_corpus_paths(cfg.data.corpus))
    if cfg.data.validation_holdout:
        holdout_seed = cfg.seed if cfg.data.holdout_seed is None else cfg.data.holdout_seed
        train_recs, val_recs = corpus.split_holdout(records, cfg.data.validation_holdout, holdout_seed)
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


def _check_output_dir(cfg: PretrainConfig, out: Path) -> Optional[dict]:
    """A finished run with the same config is returned as is; a different config in a folder that
    already holds checkpoints is an error (resuming it would mix two runs)."""
    if not (out / runs.CONFIG_FILE).exists():
        return None
    if runs.finished(out, cfg, "pretrain", also=("final_model/config.json",)):
        return runs.read_json(out / runs.SUMMARY_FILE)
    if not runs.same_config(out / runs.CONFIG_FILE, cfg) and (last_complete_checkpoint(out / "checkpoints") or (out / "final_model").exists()):
        raise FsaError(f"{out}: holds a run with a different config (see its config.yaml); "
                       "choose another output_dir or delete it")
    return None


# ------------------------------------------------------------------------------------ pretrain
def pretrain(cfg: PretrainConfig, progress: bool = True, callbacks: Optional[list] = None) -> dict:
    """Run (or resume, or skip if finished) distillation pretraining; returns the summary.

    `callbacks`: extra `transformers.TrainerCallback`s (loggers, early stopping, ...)."""
    out = check_output_dir(Path(cfg.output_dir), "output_dir")
    check_model_spec(cfg.model)
    _check_corpus_paths(cfg)
    done = _check_output_dir(cfg, out)
    if done is not None:
        log.info("%s: finished run with the same config, skipping", out)
        return done
    recipe = PretrainRecipe(cfg, out, progress, callbacks)
    recipe.setup()
    recipe.train()
    return recipe.save()


def training_arguments(cfg: PretrainConfig, ckpt_dir: Path, progress: bool):
    """Trainer arguments: validation and checkpoints every eval_steps, the last k kept, DDP over
    gloo when launched by torchrun without a GPU."""
    import torch
    from transformers import TrainingArguments

    from fsa_distill.models import use_bf16

    tr, cuda = cfg.train, torch.cuda.is_available()
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    return TrainingArguments(
        output_dir=str(ckpt_dir), max_steps=tr.max_steps, per_device_train_batch_size=tr.batch_size,
        gradient_accumulation_steps=tr.grad_accum, per_device_eval_batch_size=tr.eval_batch_size,
        eval_strategy="steps", eval_steps=tr.eval_steps, save_strategy="steps", save_steps=tr.eval_steps,
        save_total_limit=tr.keep_checkpoints, metric_for_best_model="eval_loss", greater_is_better=False,
        load_best_model_at_end=False, prediction_loss_only=True, logging_steps=tr.logging_steps,
        max_grad_norm=tr.max_grad_norm, bf16=use_bf16(tr.precision, "train.precision"), seed=cfg.seed,
        data_seed=cfg.seed, report_to=[], dataloader_num_workers=tr.num_workers, disable_tqdm=not progress,
        ddp_backend="gloo" if distributed and not cuda else None, ddp_find_unused_parameters=False, use_cpu=not cuda,
    )


def batch_plan(cfg: PretrainConfig, src_len: list[int], tgt_len: list[int]):
    """(the length-grouped sampler or None, padding statistics of the first epoch's batches)."""
    from fsa_distill.student.sampler import (
        LengthGroupedSampler,
        padding_stats,
        shuffled_batches,
    )

    tr, sampler = cfg.train, None
    if tr.length_grouping:
        sampler = LengthGroupedSampler(tgt_len, src_len, batch_size=tr.batch_size, seed=cfg.seed,
                                       group_size=tr.group_size)
        batches = sampler.batches(epoch=0)
    else:
        batches = shuffled_batches(len(tgt_len), tr.batch_size, cfg.seed)
    padding = padding_stats(batches, src_len, tgt_len).as_dict()
    shuffled = padding_stats(shuffled_batches(len(tgt_len), tr.batch_size, cfg.seed), src_len, tgt_len)
    padding["padding_fraction_shuffled_batches"] = round(shuffled.fraction, 4)
    return sampler, padding


class PretrainRecipe:
    """One pretraining run: setup, train, save. On every rank; only the main one writes files."""

    def __init__(self, cfg: PretrainConfig, out: Path, progress: bool, callbacks: Optional[list]):
        self.cfg, self.out, self.progress, self.callbacks = cfg, out, progress, callbacks
        self.t_start = time.time()

    def setup(self) -> None:
        from transformers import set_seed

        from fsa_distill.models import load_student
        from fsa_distill.student.optim import build_optimizer, build_scheduler
        from fsa_distill.student.sampler import Seq2SeqCollator

        cfg, tr = self.cfg, self.cfg.train
        self.args = training_arguments(cfg, self.out / "checkpoints", self.progress)
        self.main = self.args.process_index == 0
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
            runs.write_config(cfg, self.out)
            remove_incomplete_checkpoints(self.out / "checkpoints")
        set_seed(cfg.seed)
        with self.args.main_process_first(desc="loading the student"):  # a preset is built once, not per rank
            model, self.tokenizer = load_student(cfg.model)
        self.data = load_pairs(cfg, self.tokenizer)
        train_ds, val_ds = self.data["train"], self.data["validation"]
        sampler, self.padding = batch_plan(cfg, train_ds["source_length"], train_ds["target_length"])
        log.info("%d training pairs, %d validation; padding %.1f%% of batch slots (shuffled batches: %.1f%%)",
                 len(train_ds), len(val_ds), 100 * self.padding["padding_fraction"],
                 100 * self.padding["padding_fraction_shuffled_batches"])
        optimizer = build_optimizer(model, tr.optimizer, tr.learning_rate, tr.weight_decay)
        scheduler = build_scheduler(optimizer, total_steps=tr.max_steps, final_lr=tr.final_lr,
                                    warmup_steps=tr.warmup_steps, reference_lr_quirk=tr.reference_lr_quirk)
        self.trainer = _make_trainer_class()(
            model=model, args=self.args, train_dataset=train_ds, eval_dataset=val_ds,
            processing_class=self.tokenizer, data_collator=Seq2SeqCollator(self.tokenizer.pad_token_id),
            optimizers=(optimizer, scheduler), length_sampler=sampler, callbacks=self.callbacks)

    def train(self) -> None:
        import torch

        self.resume = last_complete_checkpoint(self.out / "checkpoints")
        if self.resume is not None:
            log.info("resuming from %s", self.resume)
            check_weights(self.resume)
        result = train_resuming(self.trainer, self.resume)
        state = self.trainer.state
        if not any(e.get("step") == state.global_step and "eval_loss" in e for e in state.log_history):
            self.trainer.evaluate()  # the last step was not a validation step
        self.final_val = next(e["eval_loss"] for e in reversed(state.log_history) if "eval_loss" in e)
        self.tokens = self.trainer.accelerator.reduce(torch.tensor(float(self.trainer.target_tokens)),
                                                      reduction="sum").item()
        self.runtime = result.metrics.get("train_runtime") or 0.0

    def save(self) -> dict:
        """The model folders, loss curve and summary.json (main process); the summary."""
        state = self.trainer.state
        summary = {"steps": state.global_step, "final_val_loss": self.final_val}
        if self.main:
            meta = {"kind": "pretrained", "base_model": self.cfg.model,
                    "corpus": [str(p) for p in _corpus_paths(self.cfg.data.corpus)],
                    "teacher": ", ".join(self.data["teachers"]) or None, "steps": state.global_step}
            best_val, best_step = self.save_models(meta)
            runs.write_curve(self.out, "loss_curve", loss_curve(state.log_history),
                             fields=["step", "train_loss", "val_loss", "lr"])
            summary = self.summary(meta, best_val, best_step)
            runs.write_json(self.out / runs.SUMMARY_FILE, summary, atomic=True)
            log.info("pretraining done: %s", json.dumps({k: summary[k] for k in (
                "steps", "final_val_loss", "best_val_loss", "target_tokens_per_s", "padding_fraction")}))
        self.trainer.accelerator.wait_for_everyone()  # no rank exits before the model is written
        return summary

    def save_models(self, meta: dict) -> tuple[float, int]:
        """final_model/ (the last step) and best_model/ (lowest validation loss); (best loss, its step)."""
        from fsa_distill.models import save_student

        state, final_dir = self.trainer.state, self.out / "final_model"
        save_student(self.trainer.accelerator.unwrap_model(self.trainer.model), self.tokenizer, final_dir,
                     meta={**meta, "validation_loss": self.final_val})
        write_pretrain_card(final_dir, {**meta, "validation_loss": self.final_val})
        best = state.best_model_checkpoint
        if best and state.best_metric is not None and state.best_metric < self.final_val and Path(best).exists():
            step = int(Path(best).name.split("-")[-1])
            export_model_folder(Path(best), self.out / "best_model",
                                 {**meta, "steps": step, "validation_loss": state.best_metric})
            return state.best_metric, step
        export_model_folder(final_dir, self.out / "best_model", {**meta, "validation_loss": self.final_val})
        return self.final_val, state.global_step

    def summary(self, meta: dict, best_val: float, best_step: int) -> dict:
        state, tr, args = self.trainer.state, self.cfg.train, self.args
        return {
            "steps": state.global_step,
            "final_val_loss": self.final_val, "best_val_loss": best_val, "best_step": best_step,
            "final_train_loss": next((e["loss"] for e in reversed(state.log_history) if "loss" in e), None),
            "target_tokens_per_s": round(self.tokens / self.runtime, 1) if self.runtime else None,
            "target_tokens_trained_this_session": int(self.tokens),
            **self.padding,
            "effective_batch": tr.batch_size * tr.grad_accum * args.world_size,
            "processes": args.world_size, "bf16": args.bf16,
            "train_pairs": len(self.data["train"]), "validation_pairs": len(self.data["validation"]),
            "train_data": self.data["train_stats"], "teacher": meta["teacher"],
            "resumed_from": str(self.resume) if self.resume else None,
            "train_runtime_s": round(self.runtime, 2), "wall_time_s": round(time.time() - self.t_start, 2),
        }
