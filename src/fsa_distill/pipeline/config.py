"""The experiment file: which stages run, with what, over which students, datasets and seeds."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from fsa_distill.config import StrictConfig, deep_merge

PAPER_SEEDS = [42, 52, 62, 72, 82, 142, 152, 162, 172, 182]
PRETRAINED = "@pretrained"  # a student whose weights are this experiment's pretraining output


class StudentSpec(StrictConfig):
    name: str = Field(description="label in reports, e.g. distilled, baseline")
    model: str = Field(description=f"preset, folder or hub id; {PRETRAINED} = this run's pretrained model; "
                       "@<variant> = that variant's pretrained model")
    # How it is trained: `finetune` (pretrained or plain model, then fine-tuning) or `multitask`
    # (student/multitask.py: task and teacher text in one stage). The stage is a fine-tuning either
    # way: one folder per (task, dataset, fraction, seed), scored and reported the same.
    recipe: Literal["finetune", "multitask"] = "finetune"
    family: Literal["generative", "extractive"] | None = None  # = finetune.family (extractive: a tagger)
    finetune: dict[str, Any] = {}  # this student's changes to the fine-tuning section, key by key


class ZeroShotPlan(StrictConfig):
    """Zero-shot sentiment classification of students' starting models (a variant's pretrained
    model, a plain student's model), one stage per (student, dataset): `fsa-distill zeroshot`."""

    students: list[str] | None = None  # default: every variant and every plain finetune student
    datasets: list[str] = ["sst2", "yelp2", "teacher-heldout"]
    settings: dict[str, Any] = {}  # ZeroShotConfig keys: split, limit, seed, methods, label_words, analysis
    student_settings: dict[str, dict[str, Any]] = {}  # {student: its changes to settings} (e.g. input templates)


class VariantSpec(StrictConfig):
    """One pretraining variant: the experiment's `pretrain` (and `generate`) sections with these
    keys changed (merged key by key). Each variant is fine-tuned as a student of its own name."""

    name: str
    pretrain: dict[str, Any] = {}
    generate: dict[str, Any] = {}
    finetune: dict[str, Any] = {}  # this variant's changes to the fine-tuning section (e.g. prefix: task)
    # Several pretrainings of this variant, one per seed (all holding out the same reviews: those
    # of the pretrain section's seed). Fine-tuning seed i uses pretraining i mod n, so the paired
    # CIs include the pretraining's own variance. Empty: one pretraining, the section's seed.
    pretrain_seeds: list[int] = []


class SweepSpec(StrictConfig):
    """A grid of fine-tunings: students x tasks x datasets x fractions x seeds. A key left out
    takes the experiment's top-level value; `finetune` changes the top-level section key by key."""

    name: str
    students: list[str] | None = None  # names of students or variants; None = all of them
    tasks: dict[Literal["atsa", "acsa"], list[str]] | None = None
    seeds: list[int] | None = Field(None, min_length=1)
    fractions: list[float] | None = Field(None, min_length=1)
    finetune: dict[str, Any] = {}


class ReportSettings(StrictConfig):
    baseline: str | None = None  # the student the others are compared with
    # {student: its own baseline}, where that is not `baseline`: e.g. an extractive variant against
    # the plain extractive student (the decision rule compares within a family)
    baselines: dict[str, str] = {}


class PipelineConfig(StrictConfig):
    name: str = "experiment"
    output_dir: str = "runs/{name}"
    # Where the small records of finished stages (configs, metrics, curves: no weights) and the
    # report are copied as they come, e.g. docs/results/{name}. A later run, on any machine,
    # takes a stage recorded there with the same config as finished instead of redoing it.
    results_dir: str | None = None
    # Stage settings are the stages' own configs (fsa-distill generate / pretrain / finetune),
    # minus the paths, which the pipeline sets. Leave `generate` or `pretrain` out to skip them.
    generate: dict[str, Any] | None = None
    pretrain: dict[str, Any] | None = None
    variants: list[VariantSpec] = []  # several pretrainings, each a student (see VariantSpec)
    students: list[StudentSpec] | None = None  # default: [distilled = @pretrained] without variants
    tasks: dict[Literal["atsa", "acsa"], list[str]] = {"atsa": ["rest14"]}
    seeds: list[int] = Field(default_factory=lambda: [42], min_length=1)
    # Share of each training set used (the reference's low-resource -p option, a seeded sample per
    # fine-tuning seed, so paired runs see the same sentences); dev and test stay whole.
    fractions: list[float] = Field(default_factory=lambda: [1.0], min_length=1)
    sweeps: list[SweepSpec] = []  # several grids in one file; none = one grid of the top-level keys
    finetune: dict[str, Any] = {}
    jobs: int = Field(1, ge=1, description="fine-tuning jobs in parallel")
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    report: ReportSettings = ReportSettings()
    zeroshot: ZeroShotPlan | None = None

    @model_validator(mode="after")
    def _check(self):
        if self.students is None:
            self.students = [] if self.variants else [StudentSpec(name="distilled", model=PRETRAINED)]
        if self.variants and self.pretrain is None:
            raise ValueError("variants change the pretrain section, but there is none")
        if self.variants and any(s.model == PRETRAINED for s in self.students):
            raise ValueError(f"with variants, each variant is a pretrained student: drop the {PRETRAINED} student")
        variant_refs = {"@" + v.name for v in self.variants}
        for s in self.students:
            if s.model.startswith("@") and s.model != PRETRAINED and s.model not in variant_refs:
                raise ValueError(f"student {s.name}: model {s.model!r}: an @-name is {PRETRAINED} or a variant "
                                 f"({', '.join(sorted(variant_refs)) or 'none here'})")
        if any(s.model == PRETRAINED for s in self.students) and self.pretrain is None:
            raise ValueError(f"a student uses {PRETRAINED} but there is no pretrain section")
        names = [s.name for s in self.students] + [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"student and variant names must be unique: {names}")
        for name in names:  # a name is a folder under finetune/: never a path
            if not name or name in (".", "..") or any(c in name for c in "/\\:") or name.startswith("."):
                raise ValueError(f"name {name!r}: must be a plain folder name (no '/', '\\', ':' or leading '.')")
        for f in self.fractions + [f for s in self.sweeps for f in (s.fractions or [])]:
            if not 0 < f <= 1:
                raise ValueError(f"fractions: {f} is not in (0, 1]")
        sweep_names = [s.name for s in self.sweeps]
        if len(set(sweep_names)) != len(sweep_names):
            raise ValueError(f"sweep names must be unique: {sweep_names}")
        for sw in self.sweeps:
            unknown = sorted(set(sw.students or []) - set(names))
            if unknown:
                raise ValueError(f"sweep {sw.name}: unknown students {unknown} (known: {names})")
        if self.zeroshot is not None:
            unknown = sorted(set(self.zeroshot.students or []).union(self.zeroshot.student_settings) - set(names))
            if unknown:
                raise ValueError(f"zeroshot: unknown students {unknown} (known: {names})")
            taken = {"model", "dataset", "output_dir", "backend", "label"} & \
                set().union(self.zeroshot.settings, *self.zeroshot.student_settings.values())
            if taken:
                raise ValueError(f"zeroshot.settings: {sorted(taken)} are set by the pipeline")
        for section in [self.finetune] + [s.finetune for s in self.sweeps] + \
                [s.finetune for s in self.students] + [v.finetune for v in self.variants]:
            for key in ("model", "task", "dataset", "seed", "output_dir", "label"):
                if key in section:
                    raise ValueError(f"finetune.{key} is set by the pipeline (students, tasks, seeds)")
            if "data_fraction" in (section.get("train") or {}):
                raise ValueError("finetune.train.data_fraction is set by the pipeline: use `fractions`")
        for v in self.variants:
            if v.pretrain_seeds and (len(set(v.pretrain_seeds)) != len(v.pretrain_seeds) or "seed" in v.pretrain):
                raise ValueError(f"variant {v.name}: pretrain_seeds must be distinct and replace pretrain.seed")
            if "output_dir" in v.pretrain or {"out", "output_dir"} & set(v.generate):
                raise ValueError(f"variant {v.name}: output folders are set by the pipeline")
            if v.generate and self.generate is None:
                raise ValueError(f"variant {v.name} changes generate, but there is no generate section")
        if self.pretrain and ("output_dir" in self.pretrain):
            raise ValueError("pretrain.output_dir is set by the pipeline")
        if self.generate and {"out", "output_dir"} & set(self.generate):
            raise ValueError("generate.output_dir is set by the pipeline")
        return self

    def run_dir(self) -> str:
        return self.output_dir.format(name=self.name)

    def results_path(self) -> str | None:
        return self.results_dir.format(name=self.name) if self.results_dir else None

    def all_sweeps(self) -> list[SweepSpec]:
        """The sweeps with every key filled in from the top level."""
        sweeps = self.sweeps or [SweepSpec(name="main")]
        everyone = [s.name for s in self.students] + [v.name for v in self.variants]
        return [SweepSpec(name=s.name, students=s.students or everyone, tasks=s.tasks or self.tasks,
                          seeds=s.seeds or self.seeds, fractions=s.fractions or self.fractions,
                          finetune=deep_merge(self.finetune, s.finetune)) for s in sweeps]


def check_datasets(cfg: PipelineConfig, source: str) -> None:
    """Every dataset of `tasks` (top level and sweeps) is a shipped name or a folder holding
    train, dev and test, as `finetune` and `evaluate` will require: checked when the plan is made,
    so `tasks: {atsa: [../../etc]}` fails before any generate or pretrain stage is planned."""
    from fsa_distill import limits
    from fsa_distill.benchmark.data import split_path
    from fsa_distill.errors import FsaError

    for sweep in cfg.all_sweeps():
        data_dir = sweep.finetune.get("data_dir")
        for task, names in (sweep.tasks or {}).items():
            for name in names:
                where = f"{source}: tasks.{task}: {limits.echo(name)}"
                try:
                    missing = [s for s in ("train", "dev", "test") if split_path(task, name, s, data_dir) is None]
                except FsaError as e:
                    raise FsaError(f"{where}: {e}") from None
                if missing:
                    raise FsaError(f"{where}: not a dataset folder (no {missing[0]}.json)")


def validate_stage_configs(cfg: PipelineConfig, source: str) -> None:
    """Build every stage config once up front, so a typo fails before hours of work."""
    from fsa_distill.config import build_config
    from fsa_distill.student.finetune import FinetuneConfig

    check_datasets(cfg, source)
    for sweep in cfg.all_sweeps():
        where = f"{source}: finetune" + (f" (sweep {sweep.name})" if cfg.sweeps else "")
        build_config(FinetuneConfig, dict(sweep.finetune), where)
    variants = cfg.variants or [VariantSpec(name="")]
    if cfg.generate is not None:
        from fsa_distill.teacher.config import GenerateConfig

        for v in variants:
            build_config(GenerateConfig, {**deep_merge(cfg.generate, v.generate), "output_dir": "x"},
                         f"{source}: generate" + (f" (variant {v.name})" if v.name else ""))
    if cfg.pretrain is not None:
        from fsa_distill.student.pretrain import PretrainConfig

        for v in variants:
            build_config(PretrainConfig, {**deep_merge(cfg.pretrain, v.pretrain), "output_dir": "x"},
                         f"{source}: pretrain" + (f" (variant {v.name})" if v.name else ""))
