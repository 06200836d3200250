"""The fine-tuning config (`fsa-distill finetune`, the pipeline's `finetune` section): one
(task, dataset, seed), the reference's hyperparameters by default (docs/reference.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from fsa_distill.benchmark.views import VIEWS
from fsa_distill.config import StrictConfig
from fsa_distill.decoding.generate import DecodeSettings


class TrainSettings(StrictConfig):
    learning_rate: float = Field(3e-4, gt=0)
    head_learning_rate: float | None = Field(None, gt=0, description="extractive student: the learning rate of "
                                             "its new task heads (None: learning_rate); the encoder is pretrained, "
                                             "the heads start from random weights")
    weight_decay: float = Field(0.01, ge=0)
    adam_epsilon: float = Field(1e-6, gt=0)
    batch_size: int = Field(16, gt=0)
    epochs: float = Field(20, gt=0)
    max_steps: int = Field(-1, description="stop after this many optimizer steps (-1: use epochs)")
    max_grad_norm: float = 1.0
    warmup_ratio: float = Field(0.0, ge=0, lt=1)
    lr_scheduler: Literal["linear", "constant", "constant_with_warmup", "cosine"] = Field(
        "linear", description="after warmup_ratio of linear warmup: decay to 0 at the cap (linear, cosine) or "
        "hold (constant_with_warmup; `constant` has no warmup), so early stopping, not the schedule, ends a run")
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    data_fraction: float = Field(1.0, gt=0, le=1, description="the reference's low-resource -p option")
    train_limit: int | None = Field(None, gt=0, description="first N training sentences (tests, demos)")
    dev_limit: int | None = Field(None, gt=0)
    eval_every_epochs: int = Field(1, gt=0)
    eval_every_steps: int = Field(0, ge=0, description="analyse dev every N optimizer steps (0: every "
                                  "eval_every_epochs epochs, as the reference)")
    patience: int | None = Field(None, gt=0, description="early stopping: stop after this many dev evaluations "
                                 "without a better F1 (None: train to the epoch cap, as the reference)")
    patience_from_epoch: float = Field(0, ge=0, description="early stopping: evaluations up to this epoch never "
                                       "count against patience (a noisy start is not a plateau; Keras's "
                                       "start_from_epoch). 0: every evaluation counts")
    logging_steps: int = 50
    freeze_embeddings: bool = Field(False, description="keep the input word embeddings fixed (a third fewer "
                                    "optimizer updates for minilm-tagger, 0.50 against 0.73 s a step here)")
    length_grouping: bool = Field(False, description="batch sentences of similar length (less padding, "
                                  "faster on CPU); the reference samples batches at random")


class FinetuneConfig(StrictConfig):
    model: str = Field("tiny", description="student: preset name, local folder or hub id")
    label: str | None = Field(None, description="the student's name in reports (default: model)")
    family: Literal["auto", "generative", "extractive"] = Field(
        "auto", description="auto: extractive for a tagger preset or folder, else generative; extractive on a "
        "generative folder takes its encoder (models/tagger.py)")
    prefix: str = Field("", description="input prefix: '' none, 'task' = 'atsa: '/'acsa: ', else literal "
                        "(student/prefixes.py)")
    task: Literal["atsa", "acsa"] = "atsa"
    dataset: str = "rest14"
    data_dir: str | None = None
    seed: int = 42
    output_dir: str = "runs/finetune/{task}-{dataset}-seed{seed}"
    save_model: bool = Field(True, description="false: keep only metrics and predictions (saves disk)")
    test_limit: int | None = Field(None, gt=0, description="evaluate on the first N test+hard sentences")
    views: list[str] = list(VIEWS)
    train: TrainSettings = TrainSettings()
    decode: DecodeSettings = DecodeSettings()

    def run_dir(self) -> Path:
        return Path(self.output_dir.format(task=self.task, dataset=Path(self.dataset).name, seed=self.seed))
