"""Dev selection during fine-tuning: analyse dev every so many steps or epochs, keep the best
model by dev micro-F1 (strict >, as the reference), stop early after `patience` evaluations
without a better one, and say whether the run converged."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from fsa_distill.student.finetune_config import FinetuneConfig

log = logging.getLogger(__name__)


def counts_against_patience(f1: float, epoch: float, from_epoch: float = 0) -> bool:
    """Whether a dev evaluation without a new best uses up patience.

    Not at F1 0: a head that is not firing (all ACSA sigmoids under the threshold in its first
    epochs) is not a run that stopped improving, and not only before the first F1 above 0: on acsa
    rest16 with a 60-epoch cap three tagger runs scored a chance 4-7 at their first evaluation,
    went silent while the schedule warmed up, and were stopped there at epoch 8 (evidence-v2-cpu,
    README). Not up to `from_epoch` (`train.patience_from_epoch`): in the first epochs dev F1
    swings (19, 11, 14, 19 for a rest16 tagger), and three evaluations without a new best there
    are noise, not a plateau. docs/results/evidence-v2-cpu/replay_patience.py replays this rule."""
    return f1 > 0 and epoch > from_epoch


class DevSelection:
    """Analyses dev every `eval_every_steps` steps (or `eval_every_epochs` epochs), keeps the best
    model by dev micro-F1 (strict >), and stops training after `patience` evaluations without a
    better one. Dev is analysed through the same Student interface that evaluation and predict use."""

    def __init__(self, cfg: FinetuneConfig, tokenizer, dev_examples, best_dir: Path | None, progress: bool,
                 meta: dict):
        from transformers import TrainerCallback

        self.cfg, self.tokenizer, self.dev, self.best_dir, self.progress = cfg, tokenizer, dev_examples, best_dir, progress
        self.meta = meta  # what the saved best model records (family, prefix, base model)
        self.best_f1 = -1.0
        self.best_epoch = self.best_step = None
        self.best_state = None  # in-memory copy when the model is not saved to disk
        self.curve: list[dict] = []
        self.eval_seconds = 0.0
        self.since_best = 0
        self.stopped_early = False
        selection, every = self, cfg.train.eval_every_steps

        class _Callback(TrainerCallback):
            def on_step_end(self, args, state, control, model=None, **kw):
                if every and (state.global_step % every == 0 or state.global_step >= state.max_steps):
                    selection.evaluate(model, state, control)

            def on_epoch_end(self, args, state, control, model=None, **kw):
                epoch = round(state.epoch or 0)
                last = state.global_step >= state.max_steps
                if not every and (epoch % cfg.train.eval_every_epochs == 0 or last):
                    selection.evaluate(model, state, control)

        self.callback = _Callback()

    def evaluate(self, model, state, control=None) -> None:
        from fsa_distill.benchmark.scoring import score
        from fsa_distill.inference.student import wrap

        if self.curve and self.curve[-1]["step"] == state.global_step:
            return  # the last step is also an epoch end: analysed once
        t0 = time.perf_counter()
        student = wrap(model, self.tokenizer, task=self.cfg.task, meta=self.meta, decode=self.cfg.decode)
        preds = student.analyse([e.sentence for e in self.dev], progress=self.progress,
                                desc=f"dev step {state.global_step}")
        m = score(self.cfg.task, self.dev, preds, bootstrap=0)
        losses = [h["loss"] for h in state.log_history if "loss" in h]
        point = {"epoch": round(state.epoch, 3), "step": state.global_step, "dev_precision": m["precision"],
                 "dev_recall": m["recall"], "dev_f1": m["f1"], "train_loss": losses[-1] if losses else None}
        improved = m["f1"] > self.best_f1
        point["best"] = improved
        self.curve.append(point)
        counts = counts_against_patience(m["f1"], point["epoch"], self.cfg.train.patience_from_epoch)
        self.since_best = 0 if improved else self.since_best + counts
        if improved:
            self.best_f1, self.best_epoch, self.best_step = m["f1"], point["epoch"], point["step"]
            if self.best_dir is not None:
                student.save_pretrained(self.best_dir)
            else:
                self.best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        patience = self.cfg.train.patience
        if patience and self.since_best >= patience and control is not None:
            control.should_training_stop = True
            self.stopped_early = state.global_step < state.max_steps  # before the cap, not at it
        self.eval_seconds += time.perf_counter() - t0
        log.info("step %s (epoch %s) dev F1 %.2f%s", point["step"], point["epoch"], 100 * m["f1"],
                 " (best)" if improved else f" ({self.since_best} since the best)")

    def convergence(self) -> dict:
        """Whether the run converged: it stopped with its best at least `patience` evaluations
        before the end (None where no patience was set: nothing says when it would have stopped)."""
        patience = self.cfg.train.patience
        learned = self.best_f1 > 0
        return {"converged": (learned and self.since_best >= patience) if patience else None,
                "stopped_early": self.stopped_early,
                "evaluations": len(self.curve), "evaluations_after_best": self.since_best, "patience": patience,
                "patience_from_epoch": self.cfg.train.patience_from_epoch,
                "best_step": self.best_step, "epoch_cap": self.cfg.train.epochs}
