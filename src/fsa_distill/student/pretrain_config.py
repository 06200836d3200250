"""The pretraining config (`fsa-distill pretrain`, the pipeline's `pretrain` section): data,
optimisation and checkpoint settings; student/pretrain.py runs it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from fsa_distill.config import Renamed, StrictConfig

SAMPLE = "builtin:teacher-sample"  # the 500 recorded Mixtral answers shipped in the package
DEFAULT_PREFIXES = {"analysis": "analyse sentiment: ", "rewrite": "rewrite review: "}


class PretrainData(StrictConfig):
    corpus: list[str] = [SAMPLE]  # files or folders of JSONL(.gz); see pretrain_data.py for the formats
    max_source_length: int = Field(128, ge=1)
    max_target_length: int = Field(400, ge=2)
    task_prefix: bool = False  # ablation: prefix the source with what the target is
    prefixes: dict[str, str] = dict(DEFAULT_PREFIXES)
    kind_weights: dict[Literal["analysis", "rewrite"], float] = {}  # unnamed kinds weigh 1
    domain_weights: dict[str, float] = {}  # unnamed domains weigh 1
    validation: str = SAMPLE  # held-out teacher answers for the validation loss
    validation_holdout: int = Field(0, ge=0)  # >0: hold out this many corpus reviews instead
    # The seed of that holdout (None: the run's seed). Pretraining seeds of one variant set it to
    # one value, so every seed holds out the same reviews (the teacher-agreement items).
    holdout_seed: int | None = None
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
    renamed = {"lr": Renamed("learning_rate"),
               "bf16": Renamed("precision", {True: "bf16", False: "fp32", "auto": "auto"})}

    max_steps: int = Field(200_000, ge=1)  # optimizer steps
    batch_size: int = Field(20, ge=1)  # per device, per micro-batch
    grad_accum: int = Field(5, ge=1)  # effective batch = batch_size x grad_accum x processes
    optimizer: Literal["adamw_scale", "adamw"] = "adamw_scale"
    learning_rate: float = Field(3e-3, gt=0)  # nominal
    final_lr: float = Field(1e-5, ge=0)
    warmup_steps: int = Field(0, ge=0)
    reference_lr_quirk: bool = False  # start the cosine at lr/2 as the reference really did
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 where a CUDA device supports it
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
