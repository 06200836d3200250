"""The experiment file: which stages run, with what, over which students, datasets and seeds.

Stage sections are typed by the stages' own config classes: `generate` by GenerateConfig,
`pretrain` by PretrainConfig, `finetune` by FinetuneConfig (MultitaskConfig for a multi-task
student), zero-shot `settings` by ZeroShotConfig. Every section, and every change a variant, sweep
or student makes to one, is validated by that class when the experiment file loads (an unknown
key or a wrong type names its place in the file), and a key the pipeline sets itself (the model,
task, dataset, seed, output folder, label, train fraction) is refused there. A section is kept as
written: the stage folders are named by a hash of the raw merged section (plan.py), so values stay
as the file spells them (`epochs: 20`, not `20.0`) and no finished or committed folder moves.
The layers of a stage's section merge in one place each, in this order: the top-level section,
then the variant's or sweep's changes, then the student's (`*_section` below); plan.py then adds
the keys the pipeline sets and builds the stage config once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from fsa_distill.config import StrictConfig, deep_merge, quiet_renames

PAPER_SEEDS = [42, 52, 62, 72, 82, 142, 152, 162, 172, 182]
PRETRAINED = "@pretrained"  # a student whose weights are this experiment's pretraining output

# The keys of each stage's config that the pipeline sets (why, in the error), never a section's.
PIPELINE_KEYS = {
    "generate": {"out": "output folders", "output_dir": "output folders"},
    "pretrain": {"output_dir": "output folders"},
    "finetune": {k: "students, tasks, seeds" for k in ("model", "task", "dataset", "seed", "output_dir", "label")},
    "zeroshot": {k: "students, datasets" for k in ("model", "dataset", "output_dir", "backend", "label")},
}
# What a section is completed with to validate as its whole stage config (a required key).
PLACEHOLDERS = {"generate": {}, "pretrain": {"output_dir": "-"}, "finetune": {}, "zeroshot": {"model": "-"}}


def stage_class(kind: str, recipe: str = "finetune") -> type[StrictConfig]:
    """The config class of a stage (imported when a section is checked: the stages lie below)."""
    if kind == "generate":
        from fsa_distill.teacher.config import GenerateConfig
        return GenerateConfig
    if kind == "pretrain":
        from fsa_distill.student.pretrain_config import PretrainConfig
        return PretrainConfig
    if kind == "zeroshot":
        from fsa_distill.evaluation.zeroshot import ZeroShotConfig
        return ZeroShotConfig
    if recipe == "multitask":
        from fsa_distill.student.multitask import MultitaskConfig
        return MultitaskConfig
    from fsa_distill.student.finetune_config import FinetuneConfig
    return FinetuneConfig


def check_section(kind: str, data: dict, recipe: str = "finetune") -> dict:
    """`data` (a stage section, or one layer's changes to it) validated by the stage's own config
    class; returned as written. A key the pipeline sets is refused with the reason."""
    for key, why in PIPELINE_KEYS[kind].items():
        if key in data:
            raise PydanticCustomError("pipeline_key", "{kind}.{key} is set by the pipeline ({why})",
                                      {"kind": kind, "key": key, "why": why})
    if kind == "finetune" and isinstance(data.get("train"), dict) and "data_fraction" in data["train"]:
        raise PydanticCustomError("pipeline_key", "finetune.train.data_fraction is set by the pipeline: use `fractions`")
    try:
        with quiet_renames():  # the stage warns about an old key name when it is built (plan.py)
            stage_class(kind, recipe).model_validate({**data, **PLACEHOLDERS[kind]})
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        msg = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise PydanticCustomError("stage_section", "{where}: {msg}", {"where": where, "msg": msg}) from None
    return data


def _section(kind: str):
    return Annotated[dict[str, Any], AfterValidator(lambda v: check_section(kind, v))]


GenerateSection = _section("generate")
PretrainSection = _section("pretrain")
FinetuneSection = _section("finetune")  # a multi-task student's own changes: StudentSpec checks them
ZeroShotSection = _section("zeroshot")


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

    @model_validator(mode="after")
    def _typed(self):
        try:
            check_section("finetune", self.finetune, self.recipe)
        except PydanticCustomError as e:
            raise PydanticCustomError("stage_section", "student {name}: finetune: {msg}",
                                      {"name": self.name, "msg": e.message()}) from None
        return self


class ZeroShotPlan(StrictConfig):
    """Zero-shot sentiment classification of students' starting models (a variant's pretrained
    model, a plain student's model), one stage per (student, dataset): `fsa-distill zeroshot`."""

    students: list[str] | None = None  # default: every variant and every plain finetune student
    datasets: list[str] = ["sst2", "yelp2", "teacher-heldout"]
    settings: ZeroShotSection = {}  # ZeroShotConfig keys: split, limit, seed, methods, label_words, analysis
    student_settings: dict[str, ZeroShotSection] = {}  # {student: its changes to settings} (e.g. input templates)


class VariantSpec(StrictConfig):
    """One pretraining variant: the experiment's `pretrain` (and `generate`) sections with these
    keys changed (merged key by key). Each variant is fine-tuned as a student of its own name."""

    name: str
    pretrain: PretrainSection = {}
    generate: GenerateSection = {}
    finetune: FinetuneSection = {}  # this variant's changes to the fine-tuning section (e.g. prefix: task)
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
    finetune: FinetuneSection = {}


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
    generate: GenerateSection | None = None
    pretrain: PretrainSection | None = None
    variants: list[VariantSpec] = []  # several pretrainings, each a student (see VariantSpec)
    students: list[StudentSpec] | None = None  # default: [distilled = @pretrained] without variants
    tasks: dict[Literal["atsa", "acsa"], list[str]] = {"atsa": ["rest14"]}
    seeds: list[int] = Field(default_factory=lambda: [42], min_length=1)
    # Share of each training set used (the reference's low-resource -p option, a seeded sample per
    # fine-tuning seed, so paired runs see the same sentences); dev and test stay whole.
    fractions: list[float] = Field(default_factory=lambda: [1.0], min_length=1)
    sweeps: list[SweepSpec] = []  # several grids in one file; none = one grid of the top-level keys
    finetune: FinetuneSection = {}
    jobs: int = Field(1, ge=1, description="fine-tuning jobs in parallel")
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    report: ReportSettings = ReportSettings()
    zeroshot: ZeroShotPlan | None = None

    @model_validator(mode="after")
    def _check(self):
        """How the parts refer to each other (the sections themselves are typed above)."""
        if self.students is None:
            self.students = [] if self.variants else [StudentSpec(name="distilled", model=PRETRAINED)]
        self._check_pretrained_students()
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
        for v in self.variants:
            if v.pretrain_seeds and (len(set(v.pretrain_seeds)) != len(v.pretrain_seeds) or "seed" in v.pretrain):
                raise ValueError(f"variant {v.name}: pretrain_seeds must be distinct and replace pretrain.seed")
            if v.generate and self.generate is None:
                raise ValueError(f"variant {v.name} changes generate, but there is no generate section")
        return self

    def _check_pretrained_students(self) -> None:
        """@pretrained and @<variant> name a pretraining this experiment has."""
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

    # ------------------------------------------------------------------ the sections, merged once
    def generate_section(self, variant: "VariantSpec") -> dict:
        """The generation section of a variant: the top level, then the variant's changes."""
        return deep_merge(self.generate or {}, variant.generate)

    def pretrain_section(self, variant: "VariantSpec") -> dict:
        """The pretraining section of a variant: the top level, then the variant's changes."""
        return deep_merge(self.pretrain or {}, variant.pretrain)

    def finetune_section(self, sweep: "SweepSpec", spec) -> dict:
        """The fine-tuning section of one student (a StudentSpec or a VariantSpec) in one sweep:
        the top level and the sweep's changes (`all_sweeps`), then the student's. With no changes
        it is the sweep's section as it was, so no existing folder hash moves. The student's
        family and recipe are written into it (hashed: a multi-task run is not the fine-tuning)."""
        data = deep_merge(sweep.finetune, spec.finetune) if spec.finetune else {**sweep.finetune}
        if data.get("prefix") == "":  # no prefix is the default: the same inputs, the same folder
            data.pop("prefix")
        if getattr(spec, "family", None):
            data["family"] = spec.family
        if getattr(spec, "recipe", "finetune") != "finetune":
            data["recipe"] = spec.recipe  # not a config key: plan.py takes it out again
        return data

    def zeroshot_settings(self, student: str) -> dict:
        """The zero-shot settings of one student: the plan's, then the student's changes."""
        own = self.zeroshot.student_settings.get(student)
        return deep_merge(self.zeroshot.settings, own) if own else self.zeroshot.settings

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
