"""Pretraining checkpoints: the last complete one (to resume), incomplete ones removed, a
checkpoint exported as a plain model folder with its card, the loss curve from the trainer's log,
and resuming that turns torch's refusal of an unsafe pickle into one line."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Optional

from fsa_distill.errors import FsaError
from fsa_distill.limits import clip
from fsa_distill.models.folder import write_meta
from fsa_distill.student.cards import write_pretrain_card

log = logging.getLogger(__name__)

# Files of a Trainer checkpoint that a plain model folder does not need.
TRAINING_STATE_FILES = ("optimizer.pt", "scheduler.pt", "scaler.pt", "trainer_state.json", "training_args.bin")


def last_complete_checkpoint(ckpt_dir: Path) -> Optional[Path]:
    """The newest checkpoint whose trainer state was written (the Trainer writes it last), so a
    run killed while saving resumes from the one before."""
    if not ckpt_dir.is_dir():
        return None
    done = [p for p in ckpt_dir.glob("checkpoint-*") if (p / "trainer_state.json").exists()
            and p.name.split("-")[-1].isdigit()]
    return max(done, key=lambda p: int(p.name.split("-")[-1]), default=None)


def remove_incomplete_checkpoints(ckpt_dir: Path) -> None:
    for p in ckpt_dir.glob("checkpoint-*"):
        if p.is_dir() and not (p / "trainer_state.json").exists():
            log.info("removing incomplete checkpoint %s", p)
            shutil.rmtree(p, ignore_errors=True)


def export_model_folder(src: Path, dst: Path, meta: dict) -> None:
    """A Trainer checkpoint -> a plain model folder (weights, config, tokenizer, metadata)."""
    tmp = dst.with_name(dst.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, ignore=lambda d, names: [n for n in names if n in TRAINING_STATE_FILES
                                                        or n.startswith("rng_state")])
    write_meta(tmp, meta)
    write_pretrain_card(tmp, meta)
    shutil.rmtree(dst, ignore_errors=True)
    tmp.rename(dst)


def loss_curve(log_history: list[dict]) -> list[dict]:
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


def train_resuming(trainer, resume: Optional[Path]):
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
