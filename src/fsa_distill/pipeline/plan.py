"""The plan of an experiment: every stage (generate, pretrain, finetune, zeroshot), its validated
config and its output folder, named by a hash of the stage's raw config section (so a setting
changes only the folders of the stages it reaches); each marked done where a finished run (here
or committed in results_dir) has that config. pipeline/run.py runs the plan."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from fsa_distill import runs
from fsa_distill.config import build_config
from fsa_distill.errors import FsaError
from fsa_distill.pipeline.config import PRETRAINED, PipelineConfig


def config_hash(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:10]


@dataclass
class Stage:
    kind: str                 # generate | pretrain | finetune
    name: str
    out: Path
    config: object            # the stage's validated config
    done: bool = False
    deps: list[str] = field(default_factory=list)
    status: str = ""          # why it is done: "done" | "committed" | "not needed" | "not selected"
    sweep: str = ""           # the first sweep that asked for it (fine-tunings)
    student: str = ""         # the student (or variant) it trains or asks (fine-tunings, zero-shot)


def fraction_tag(fraction: float) -> str:
    return "" if fraction >= 1 else f"{100 * fraction:g}%"


def _neutral_pretrain_keys_dropped(data: dict) -> dict:
    """A pretraining section without the settings that change nothing: a holdout seed equal to the
    run's own seed (its default), so writing it out keeps the folder (and every committed run)."""
    section = data.get("data")
    if isinstance(section, dict) and "holdout_seed" in section and section["holdout_seed"] == data.get("seed", 42):
        data = {**data, "data": {k: v for k, v in section.items() if k != "holdout_seed"}}
    return data


def _upstream_stages(cfg: PipelineConfig, root: Path) -> tuple[list[Stage], dict[str, tuple[str, str]]]:
    """Generation and pretraining stages, one per distinct config (variants that share a corpus or
    a pretraining share its folder), and {student name: [(pretrain stage name, model folder)]}, one
    entry per pretraining seed of the variant (`pretrain_seeds`; one entry without)."""
    from fsa_distill.config import legacy_keys
    from fsa_distill.pipeline.config import VariantSpec
    from fsa_distill.student.pretrain import PretrainConfig
    from fsa_distill.teacher.config import GenerateConfig

    stages: dict[Path, Stage] = {}
    pretrained: dict[str, tuple[str, str]] = {}
    variants = cfg.variants or [VariantSpec(name="")]
    for v in variants:
        corpus, gen_name = None, None
        if cfg.generate is not None:
            data = cfg.generate_section(v)
            out = root / f"generate-{config_hash(legacy_keys(GenerateConfig, data))}"
            if out not in stages:
                name = "generate" if not cfg.variants or not any(x.generate for x in variants) else f"generate {v.name}"
                gcfg = build_config(GenerateConfig, {**data, "output_dir": str(out)}, "generate")
                stages[out] = Stage("generate", name, out, gcfg, runs.finished(out, gcfg, "generate"))
            gen_name, corpus = stages[out].name, str(out / "corpus.jsonl")
        if cfg.pretrain is None:
            continue
        merged = cfg.pretrain_section(v)
        seeds = v.pretrain_seeds or [None]
        for ps in seeds:
            data = dict(merged)
            if ps is not None:  # every pretraining seed holds out the same reviews: the base seed's
                data["data"] = {**data.get("data", {}), "holdout_seed": data.get("data", {}).get(
                    "holdout_seed", merged.get("seed", 42))}
                if ps != merged.get("seed", 42):  # the section's own seed stays unwritten: the same folder
                    data["seed"] = ps
            data = _neutral_pretrain_keys_dropped(data)
            if corpus is not None:
                data.setdefault("data", {})["corpus"] = [corpus]
            out = root / f"pretrain-{config_hash(legacy_keys(PretrainConfig, data))}"
            if out not in stages:
                pcfg = build_config(PretrainConfig, {**data, "output_dir": str(out)}, "pretrain")
                done = runs.finished(out, pcfg, "pretrain", also=("final_model/config.json",))
                name = f"pretrain {v.name}" if v.name else "pretrain"
                stages[out] = Stage("pretrain", name + (f" seed {ps}" if len(seeds) > 1 else ""), out, pcfg, done,
                                    [gen_name] if gen_name else [])
            pretrained.setdefault(v.name or PRETRAINED, []).append((stages[out].name, str(out / "final_model")))
    return list(stages.values()), pretrained


def _model_of(model: str, pretrained: dict, seed_index: int = 0) -> tuple[str, list[str]]:
    """(model folder or spec, [the pretraining stage it needs]) for a student's `model`. A variant
    with several pretraining seeds gives fine-tuning seed number i (in the experiment's seed order)
    its pretraining i mod n, so paired seeds cover the pretraining's own variance too."""
    if not model.startswith("@"):
        return model, []
    choices = pretrained[PRETRAINED if model == PRETRAINED else model[1:]]
    dep, folder = choices[seed_index % len(choices)]
    return folder, [dep]


def seed_order(cfg: PipelineConfig) -> list[int]:
    """Every fine-tuning seed, the top-level `seeds` first, then the sweeps' others as they come."""
    return list(dict.fromkeys(list(cfg.seeds) + [s for sw in cfg.all_sweeps() for s in sw.seeds]))


def _stage_config(data: dict, out: Path, where: str):
    """The validated config of a fine-tuning stage: FinetuneConfig, or MultitaskConfig for the
    multi-task recipe; a prefix or recipe the code cannot honour is refused here, at planning."""
    from fsa_distill.student.finetune import FinetuneConfig
    from fsa_distill.student.prefixes import check_prefix_supported, task_prefix

    data = dict(data)
    recipe = data.pop("recipe", "finetune")
    if recipe == "multitask":
        from fsa_distill.student.multitask import MultitaskConfig, check_config

        cfg = build_config(MultitaskConfig, {**data, "output_dir": str(out)}, where)
        check_config(cfg, where)
        return cfg
    cfg = build_config(FinetuneConfig, {**data, "output_dir": str(out)}, where)
    check_prefix_supported(task_prefix(cfg.task, cfg.prefix), where)
    return cfg


def _finetune_stages(cfg: PipelineConfig, root: Path, pretrained: dict) -> list[Stage]:
    """Every sweep's grid, seed-major (all students and datasets of one seed before the next, so
    paired results come in together); a grid point two sweeps share is planned once."""
    from fsa_distill.config import legacy_keys
    from fsa_distill.pipeline.config import stage_class
    from fsa_distill.student.finetune import finished_run

    students = {s.name: s.model for s in cfg.students} | {v.name: "@" + v.name for v in cfg.variants}
    specs = {s.name: s for s in cfg.students} | {v.name: v for v in cfg.variants}
    stages: dict[Path, Stage] = {}
    order = seed_order(cfg)
    for sweep in cfg.all_sweeps():
        for fraction in sweep.fractions:
            for seed in sweep.seeds:
                for task, datasets in sweep.tasks.items():
                    for ds in datasets:
                        for name in sweep.students:
                            # @pretrained, a variant's own pretraining, or another variant's (@name)
                            model, deps = _model_of(students[name], pretrained, order.index(seed))
                            data = {**cfg.finetune_section(sweep, specs[name]), "model": model, "task": task,
                                    "dataset": ds, "seed": seed, "label": name}
                            if fraction < 1:
                                data["train"] = {**data.get("train", {}), "data_fraction": fraction}
                            frac = f"-frac{fraction:g}" if fraction < 1 else ""
                            digest = config_hash(legacy_keys(stage_class("finetune", data.get("recipe", "finetune")), data))
                            out = root / "finetune" / name / f"{task}-{Path(ds).name}{frac}-seed{seed}-{digest}"
                            if out in stages:
                                continue
                            fcfg = _stage_config(data, out, f"finetune {name}")
                            tag = fraction_tag(fraction)
                            label = f"{name} {task}/{ds}{' ' + tag if tag else ''} seed {seed}"
                            stages[out] = Stage("finetune", label, out, fcfg, finished_run(fcfg) is not None, deps,
                                                sweep=sweep.name, student=name)
    return list(stages.values())


def _zeroshot_stages(cfg: PipelineConfig, root: Path, pretrained: dict) -> list[Stage]:
    """One zero-shot stage per (student, dataset) of `zeroshot`: the student's starting model (a
    variant's pretrained model, a plain student's own model), never a fine-tuned one."""
    from fsa_distill.config import legacy_keys
    from fsa_distill.evaluation.zeroshot import ZeroShotConfig

    plan_ = cfg.zeroshot
    if plan_ is None:
        return []
    starting = {v.name: "@" + v.name for v in cfg.variants} | \
        {s.name: s.model for s in cfg.students if s.recipe == "finetune" and s.family != "extractive"
         and not s.finetune}
    names = plan_.students or list(starting)
    stages = []
    for name in names:
        if name not in starting:
            raise FsaError(f"zeroshot: student {name!r} has no starting model of its own to ask "
                           "(multi-task, extractive or changed fine-tuning students are not zero-shot students)")
        ref = starting[name]
        n = len(pretrained[PRETRAINED if ref == PRETRAINED else ref[1:]]) if ref.startswith("@") else 1
        for i in range(n):  # every pretraining seed of a variant is its own starting model
            model, deps = _model_of(ref, pretrained, i)
            label = name if n == 1 else f"{name} (pretraining {i + 1})"
            for ds in plan_.datasets:
                data = {**cfg.zeroshot_settings(name), "model": model, "dataset": ds, "label": label}
                out = root / "zeroshot" / name / f"{Path(ds).name}-{config_hash(legacy_keys(ZeroShotConfig, data))}"
                zcfg = build_config(ZeroShotConfig, {**data, "output_dir": str(out)}, f"zeroshot {name}")
                stages.append(Stage("zeroshot", f"zeroshot {label} {ds}", out, zcfg,
                                    runs.finished(out, zcfg, "zeroshot"), deps, sweep="zeroshot", student=name))
    return stages


def plan(cfg: PipelineConfig, students: list[str] | None = None) -> list[Stage]:
    """All stages in the order they run; each marked done where its result is already there: in
    the run folder, or committed in `results_dir` with the same config (see results.py).
    `students`: run only these students' fine-tunings and zero-shot stages (and what they need);
    the others are planned, so every folder is the one the whole experiment would use, and skipped."""
    from fsa_distill.pipeline.results import committed

    root = Path(cfg.run_dir())
    upstream, pretrained = _upstream_stages(cfg, root)
    stages = upstream + _finetune_stages(cfg, root, pretrained) + _zeroshot_stages(cfg, root, pretrained)
    if students is not None:
        known = list(dict.fromkeys(s.student for s in stages if s.student))
        unknown = [n for n in students if n not in known]
        if unknown:
            raise FsaError(f"--students: {unknown[0]!r} is not a student of this experiment "
                           f"(its students: {', '.join(known)})")
    results = cfg.results_path()
    for s in stages:
        if s.done:
            s.status = "done"
        elif results and committed(s, root, Path(results)):
            s.done, s.status = True, "committed"
        elif students is not None and s.student and s.student not in students:
            s.done, s.status = True, "not selected"
    # An upstream stage whose every consumer is finished is not needed (e.g. on a new machine
    # with committed results: the pretrained weights are not committed, and need not be rebuilt).
    for s in reversed(upstream):
        users = [t for t in stages if s.name in t.deps]
        if not s.done and users and all(t.done for t in users):
            s.done, s.status = True, "not needed"
    return stages


def print_plan(stages: list[Stage]) -> None:
    from fsa_distill.ui import print_table

    print_table("plan", ("stage", "what", "status", "folder"),
                [(s.kind, s.name, f"{s.status}, skip" if s.done else "to run", s.out) for s in stages])
