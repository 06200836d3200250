"""Multi-task distillation: one training run on the task and the teacher's text together (issue 23, H2).

The recipe of Hsieh et al. (2023), "Distilling step-by-step" (google-research/distilling-step-by-
step): every input names its task, `predict: ` for the task (sentence -> `term | polarity ; ...`)
and `explain: ` for the teacher's text (review -> the teacher's analysis or rewrite), and the loss
is `alpha * task + (1 - alpha) * teacher text`. The teacher text is not needed at inference: the
model is scored on the task alone, exactly as a fine-tuned student. It replaces pretrain-then-
fine-tune: one stage, started from the plain student.

The two streams have different inputs (benchmark sentences, shipped reviews) and very different
target lengths (10 tokens, 200), so each batch holds one stream (StreamBatchSampler: both streams
shuffled and cut into batches each epoch, the batches shuffled together). Each example's loss is
its mean token loss, and the batch loss weighs every example by its stream's alpha over the
stream's share of the data:
`sum_i w_i * loss_i / batch`, `w = alpha / share_task` for task examples and
`(1 - alpha) / share_teacher` for teacher examples, so its expectation over random batches is
`alpha * E[task loss] + (1 - alpha) * E[teacher loss]` whatever the mixing ratio (up to the
filled-up last batch of each stream). The mixing
ratio (`mix_ratio` teacher examples per task example in each epoch; a seeded sample, the teacher
records cycled if there are fewer) sets how much teacher text one epoch holds.

Silver labels (H3, teacher/silver.py) ride on the same recipe: `silver: beside` adds the silver
(sentence, target) pairs to the task stream (after the low-resource sample of gold, so the gold
share of train is what the fraction says), `silver: before` first trains `silver_epochs` epochs on
silver alone and then runs the normal recipe on gold. With `teacher_text: false` there is no
teacher stream and the recipe is fine-tuning plus silver.

Everything else is the fine-tuning recipe's own (FinetuneRecipe: splits, low-resource sample,
dev selection, test views, run folder), so a multi-task run is scored, selected and recorded the
same way as a fine-tuning; its run folder's config.yaml has the `multitask` section.

The review pool the teacher text comes from is the shipped sample by default; the reviews held
out by the pretraining's validation split (`holdout_reviews`, `holdout_seed`: the same 50 as the
evidence experiments' pretraining) are never trained on, so the teacher-agreement check
(evaluation/zeroshot.py, `teacher-heldout`) stays held out for every variant.
"""

from __future__ import annotations

import logging
import random
from typing import Literal

from pydantic import Field

from fsa_distill.config import StrictConfig
from fsa_distill.errors import FsaError
from fsa_distill.student.finetune import FinetuneConfig, FinetuneRecipe
from fsa_distill.student.prefixes import EXPLAIN, PREDICT, check_prefix_supported, task_prefix

log = logging.getLogger(__name__)

SAMPLE = "builtin:teacher-sample"
WEIGHT = "loss_weight"  # the per-example column the weighted loss reads


class MultitaskSettings(StrictConfig):
    alpha: float = Field(0.5, ge=0, le=1, description="task weight; 1 - alpha on the teacher text")
    mix_ratio: float = Field(1.0, gt=0, description="teacher examples per task example in one epoch")
    teacher_text: bool = True  # false: no teacher stream (fine-tuning + silver labels)
    corpus: list[str] = [SAMPLE]  # teacher answers (pretrain_data formats)
    kinds: list[Literal["analysis", "rewrite"]] = ["analysis", "rewrite"]
    explain_prefix: str = EXPLAIN  # before every teacher-text input
    max_source_length: int = Field(128, ge=8)
    max_target_length: int = Field(256, ge=8)  # teacher answers cut here (as the evidence pretraining)
    holdout_reviews: int = Field(50, ge=0)  # reviews never trained on (pretrain_data.split_holdout)
    holdout_seed: int = 42
    silver: Literal["none", "beside", "before"] = "none"
    silver_epochs: float = Field(2, gt=0)  # silver: before


class MultitaskConfig(FinetuneConfig):
    """A fine-tuning config (every key of `fsa-distill finetune`) with the multi-task section.
    `prefix` defaults to `predict: ` here (the paper's); the task inputs carry it everywhere the
    model reads a sentence (the fine-tuning recipe's hook, student/prefixes.py)."""

    prefix: str = PREDICT
    multitask: MultitaskSettings = MultitaskSettings()


# ------------------------------------------------------------------------------------- streams
def teacher_records(settings: MultitaskSettings, seed: int) -> list:
    """The teacher's answers to train on: the corpus minus the held-out reviews, of the kinds asked."""
    from fsa_distill.resources import teacher_sample_path
    from fsa_distill.student import pretrain_data as corpus

    paths = [teacher_sample_path() if p == SAMPLE else p for p in settings.corpus]
    records = corpus.read_records(paths)
    if settings.holdout_reviews:
        records, _ = corpus.split_holdout(records, settings.holdout_reviews, settings.holdout_seed)
    records = [r for r in records if r.kind in settings.kinds]
    if not records:
        raise FsaError(f"multitask.corpus: no teacher answers of kinds {settings.kinds} left after the holdout")
    return records


def mixed_sample(records: list, n: int, seed: int) -> list:
    """`n` records: whole seeded shuffles of `records` repeated, then part of one more."""
    rng, out = random.Random(seed), []
    while len(out) < n:
        order = list(records)
        rng.shuffle(order)
        out += order[:n - len(out)]
    return out


def stream_weights(n_task: int, n_teacher: int, alpha: float) -> tuple[float, float]:
    """(weight of a task example, weight of a teacher example) so that a random batch's mean
    weighted loss estimates alpha * task + (1 - alpha) * teacher."""
    total = n_task + n_teacher
    if n_teacher == 0:
        return 1.0, 0.0
    return alpha * total / n_task, (1 - alpha) * total / n_teacher


def silver_train_examples(settings: MultitaskSettings, task: str) -> list:
    """The silver ATSA examples (teacher/silver.py), without the held-out reviews."""
    from fsa_distill.resources import teacher_sample_path
    from fsa_distill.student import pretrain_data as corpus
    from fsa_distill.teacher.silver import silver_examples

    if task != "atsa":
        raise FsaError("multitask.silver: silver labels are (sentence, target term) pairs: ATSA only")
    paths = [teacher_sample_path() if p == SAMPLE else p for p in settings.corpus]
    records = corpus.read_records(paths)
    held = []
    if settings.holdout_reviews:
        _, held = corpus.split_holdout(records, settings.holdout_reviews, settings.holdout_seed)
    result = silver_examples(records, exclude_reviews=[r.text for r in held])
    if not result.examples:
        raise FsaError("multitask.silver: the teacher corpus gave no silver pairs")
    return result.examples


# ------------------------------------------------------------------------------------- trainer
def weighted_loss(model, inputs, return_outputs=False, num_items_in_batch=None):
    """Sum over the batch of each example's mean token loss times its weight, over the batch size."""
    import torch

    weights = inputs.pop(WEIGHT)
    labels = inputs["labels"]
    outputs = model(**inputs)
    logits = outputs.logits.float()
    token = torch.nn.functional.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100, reduction="none")
    mask = (labels != -100).float()
    per_example = (token * mask).sum(-1) / mask.sum(-1).clamp(min=1)
    loss = (per_example * weights.to(per_example.dtype)).sum() / len(per_example)
    return (loss, outputs) if return_outputs else loss


class StreamBatchSampler:
    """Indices whose every `batch_size` run is one stream's batch: each epoch both streams are
    shuffled and cut into batches (a stream's last batch filled up with random repeats of its own
    examples), and the batches are shuffled together. A mixed batch would pad the task's 10-token
    targets to the teacher's 256 (measured here: 10 s a step of 16 instead of 0.8 s); one-stream
    batches keep the task steps short. The order depends only on (seed, epoch)."""

    def __init__(self, stream_sizes: list[int], batch_size: int, seed: int):
        self.sizes, self.batch_size, self.seed, self.epoch = [n for n in stream_sizes], batch_size, seed, 0

    def batches(self, epoch: int) -> list[list[int]]:
        rng, start, out = random.Random(f"{self.seed}-{epoch}"), 0, []
        for n in self.sizes:
            idx = list(range(start, start + n))
            rng.shuffle(idx)
            for i in range(0, n, self.batch_size):
                batch = idx[i:i + self.batch_size]
                batch += rng.choices(idx, k=self.batch_size - len(batch))
                out.append(batch)
            start += n
        rng.shuffle(out)
        return out

    def __iter__(self):
        order = [i for b in self.batches(self.epoch) for i in b]
        self.epoch += 1
        return iter(order)

    def __len__(self) -> int:
        return sum(-(-n // self.batch_size) for n in self.sizes if n) * self.batch_size


def _weighted_trainer_class(base):
    class WeightedSeq2SeqTrainer(base):
        """The fine-tuning recipe's trainer, with the multi-task loss and one-stream batches."""

        stream_sampler = None

        def _get_train_sampler(self, train_dataset=None):
            if self.stream_sampler is not None:
                return self.stream_sampler
            return super()._get_train_sampler(train_dataset)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if WEIGHT not in inputs:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            return weighted_loss(model, inputs, return_outputs)

    return WeightedSeq2SeqTrainer


class WeightCollator:
    """The seq2seq collator, with the per-example weight carried beside it as a float tensor."""

    def __init__(self, base):
        self.base = base

    def __call__(self, features):
        import torch

        weights = [f.pop(WEIGHT, 1.0) for f in features]
        batch = self.base(features)
        batch[WEIGHT] = torch.tensor(weights, dtype=torch.float32)
        return batch


# -------------------------------------------------------------------------------------- recipe
class MultitaskRecipe(FinetuneRecipe):
    """FinetuneRecipe with a mixed training set and a weighted loss; dev selection, the test
    views and the run folder are the fine-tuning recipe's."""

    def setup(self) -> None:
        super().setup()  # splits (with the low-resource sample), the student, the task pairs
        cfg, mt = self.cfg, self.cfg.multitask
        if mt.silver == "beside":
            self.silver = silver_train_examples(mt, cfg.task)
            self.train_examples = list(self.train_examples) + self.silver
        elif mt.silver == "before":
            self.silver = silver_train_examples(mt, cfg.task)
        self.train_ds = self.mixed_dataset()

    def mixed_dataset(self):
        import datasets

        from fsa_distill.decoding.text import to_model_text

        from fsa_distill.student.finetune import tokenize_pairs

        cfg, mt, tok = self.cfg, self.cfg.multitask, self.tokenizer
        task = tokenize_pairs(tok, *self.task_pairs(self.train_examples))
        n_task, teacher = len(task), []
        if mt.teacher_text and mt.alpha < 1:
            teacher = mixed_sample(teacher_records(mt, cfg.seed), max(1, round(mt.mix_ratio * n_task)), cfg.seed)
        w_task, w_teacher = stream_weights(n_task, len(teacher), mt.alpha)
        ids, mask, lab = list(task["input_ids"]), list(task["attention_mask"]), list(task["labels"])
        if teacher:
            t_enc = tok([mt.explain_prefix + to_model_text(r.text) for r in teacher],
                        max_length=mt.max_source_length, truncation=True)
            t_lab = tok(text_target=[to_model_text(r.response) for r in teacher],
                        max_length=mt.max_target_length, truncation=True)["input_ids"]
            ids += t_enc["input_ids"]
            mask += t_enc["attention_mask"]
            lab += t_lab
        self.streams = {"task_examples": n_task, "teacher_examples": len(teacher), "task_weight": w_task,
                        "teacher_weight": w_teacher, "alpha": mt.alpha, "mix_ratio": mt.mix_ratio,
                        "silver": mt.silver, "silver_examples": len(getattr(self, "silver", []))}
        log.info("multitask: %s", self.streams)
        return datasets.Dataset.from_dict({"input_ids": ids, "attention_mask": mask, "labels": lab,
                                           WEIGHT: [w_task] * n_task + [w_teacher] * len(teacher)})

    def trainer(self, best_dir):
        trainer = super().trainer(best_dir)
        trainer.__class__ = _weighted_trainer_class(type(trainer))
        trainer.data_collator = WeightCollator(trainer.data_collator)
        sizes = [self.streams["task_examples"], self.streams["teacher_examples"]]
        trainer.stream_sampler = StreamBatchSampler(sizes, self.cfg.train.batch_size, self.cfg.seed)
        return trainer

    def train(self) -> None:
        if self.cfg.multitask.silver == "before":
            self.silver_phase()
        super().train()

    def silver_phase(self) -> None:
        """`silver_epochs` epochs on the silver pairs alone (no dev selection), then the normal run
        continues from these weights."""
        from transformers import DataCollatorForSeq2Seq, Seq2SeqTrainer, Seq2SeqTrainingArguments

        from fsa_distill.student.finetune import tokenize_pairs

        cfg, tr = self.cfg, self.cfg.train
        ds = tokenize_pairs(self.tokenizer, *self.task_pairs(self.silver))
        args = Seq2SeqTrainingArguments(
            output_dir=str(self.run_dir / "trainer-silver"), per_device_train_batch_size=tr.batch_size,
            num_train_epochs=cfg.multitask.silver_epochs, learning_rate=tr.learning_rate, lr_scheduler_type="linear",
            max_grad_norm=tr.max_grad_norm, seed=cfg.seed, eval_strategy="no", save_strategy="no",
            logging_steps=tr.logging_steps, report_to=[], disable_tqdm=not self.progress, dataloader_num_workers=0,
            remove_unused_columns=False, use_cpu=not _cuda())
        collator = DataCollatorForSeq2Seq(self.tokenizer, model=self.model, label_pad_token_id=-100)
        out = Seq2SeqTrainer(model=self.model, args=args, train_dataset=ds, data_collator=collator,
                             processing_class=self.tokenizer).train()
        self.timing["silver_phase_s"] = out.metrics.get("train_runtime")
        self.streams["silver_phase_steps"] = out.global_step

    def extra_info(self) -> dict:
        return {"multitask": self.streams, "recipe": "multitask"}

    def save(self) -> dict:
        import shutil

        result = super().save()
        shutil.rmtree(self.run_dir / "trainer-silver", ignore_errors=True)
        return result


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def check_config(cfg: MultitaskConfig, where: str = "multitask") -> None:
    """What planning checks before anything runs: the prefix can be applied at dev/test time, and
    silver labels are asked only for ATSA."""
    check_prefix_supported(task_prefix(cfg.task, cfg.prefix), where)
    if getattr(cfg, "family", "auto") == "extractive":
        raise FsaError(f"{where}: the multi-task recipe trains a generative student (it writes the teacher's text)")
    if cfg.multitask.silver != "none" and cfg.task != "atsa":
        raise FsaError(f"{where}: multitask.silver is ATSA only (task {cfg.task})")
    if not cfg.multitask.teacher_text and cfg.multitask.silver == "none" and not cfg.prefix:
        raise FsaError(f"{where}: no teacher text, no silver labels and no prefix: that is plain fine-tuning "
                       "(use the finetune recipe)")


def multitask(cfg: MultitaskConfig, progress: bool = True) -> dict:
    """Run one multi-task training (or return the finished run with the same config)."""
    from fsa_distill.student.finetune import run_recipe

    check_config(cfg)
    return run_recipe(MultitaskRecipe, cfg, progress)


if __name__ == "__main__":  # python -m fsa_distill.student.multitask JOB.yaml [--quiet] (the pipeline's jobs)
    import sys

    from fsa_distill.config import load_config

    args = [a for a in sys.argv[1:] if a != "--quiet"]
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    result = multitask(load_config(MultitaskConfig, args[0], args[1:]), progress="--quiet" not in sys.argv)
    print(result["run_dir"])
