"""The experiment file: which stages run, with what, over which students, datasets and seeds."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from fsa_distill.config import StrictConfig
from fsa_distill.errors import FsaError

PAPER_SEEDS = [42, 52, 62, 72, 82, 142, 152, 162, 172, 182]
PRETRAINED = "@pretrained"  # a student whose weights are this experiment's pretraining output


class StudentSpec(StrictConfig):
    name: str = Field(description="label in reports, e.g. distilled, baseline")
    model: str = Field(description=f"preset, folder or hub id; {PRETRAINED} = this run's pretrained model")


class ReportSettings(StrictConfig):
    baseline: str | None = None  # the student the others are compared with


class PipelineConfig(StrictConfig):
    name: str = "experiment"
    output_dir: str = "runs/{name}"
    # Stage settings are the stages' own configs (fsa-distill generate / pretrain / finetune),
    # minus the paths, which the pipeline sets. Leave `generate` or `pretrain` out to skip them.
    generate: dict[str, Any] | None = None
    pretrain: dict[str, Any] | None = None
    students: list[StudentSpec] = [StudentSpec(name="distilled", model=PRETRAINED)]
    tasks: dict[Literal["atsa", "acsa"], list[str]] = {"atsa": ["rest14"]}
    seeds: list[int] = Field(default_factory=lambda: [42], min_length=1)
    finetune: dict[str, Any] = {}
    jobs: int = Field(1, ge=1, description="fine-tuning jobs in parallel")
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    report: ReportSettings = ReportSettings()

    @model_validator(mode="after")
    def _check(self):
        if any(s.model == PRETRAINED for s in self.students) and self.pretrain is None:
            raise ValueError(f"a student uses {PRETRAINED} but there is no pretrain section")
        names = [s.name for s in self.students]
        if len(set(names)) != len(names):
            raise ValueError(f"student names must be unique: {names}")
        for key in ("model", "task", "dataset", "seed", "output_dir", "label"):
            if key in self.finetune:
                raise ValueError(f"finetune.{key} is set by the pipeline (students, tasks, seeds)")
        if self.pretrain and ("output_dir" in self.pretrain):
            raise ValueError("pretrain.output_dir is set by the pipeline")
        if self.generate and "out" in self.generate:
            raise ValueError("generate.out is set by the pipeline")
        return self

    def run_dir(self) -> str:
        return self.output_dir.format(name=self.name)


def validate_stage_configs(cfg: PipelineConfig, source: str) -> None:
    """Build every stage config once up front, so a typo fails before hours of work."""
    from fsa_distill.config import build_config
    from fsa_distill.student.finetune import FinetuneConfig

    build_config(FinetuneConfig, dict(cfg.finetune), f"{source}: finetune")
    if cfg.generate is not None:
        from fsa_distill.teacher.config import GenerateConfig

        build_config(GenerateConfig, {**cfg.generate, "out": "x"}, f"{source}: generate")
    if cfg.pretrain is not None:
        try:
            from fsa_distill.student.pretrain import PretrainConfig
        except ModuleNotFoundError:
            raise FsaError(f"{source}: pretrain: this installation has no pretraining stage") from None
        build_config(PretrainConfig, {**cfg.pretrain, "output_dir": "x"}, f"{source}: pretrain")
