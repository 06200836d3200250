"""The pipeline recipe: plan the stages, skip what is finished, run the rest, report.

Every stage's output folder is named by a hash of its resolved config, which includes the folders
of the stages it reads from. So changing a fine-tuning setting makes new fine-tuning folders and
leaves the corpus and the pretrained model alone; changing the teacher changes everything after
it. A stage whose folder holds a finished run with the same config is skipped; an interrupted one
resumes (generation by record key, pretraining from its last checkpoint) or reruns (a fine-tuning).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from fsa_distill import runs
from fsa_distill.config import build_config, dump_config
from fsa_distill.errors import FsaError
from fsa_distill.pipeline.config import PRETRAINED, PipelineConfig

log = logging.getLogger(__name__)


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
    status: str = ""          # why it is done: "done" | "committed" (in results_dir) | "not needed"
    sweep: str = ""           # the first sweep that asked for it (fine-tunings)


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
    from fsa_distill.config import deep_merge, legacy_keys
    from fsa_distill.pipeline.config import VariantSpec
    from fsa_distill.student.pretrain import PretrainConfig
    from fsa_distill.teacher.config import GenerateConfig

    stages: dict[Path, Stage] = {}
    pretrained: dict[str, tuple[str, str]] = {}
    variants = cfg.variants or [VariantSpec(name="")]
    for v in variants:
        corpus, gen_name = None, None
        if cfg.generate is not None:
            data = deep_merge(cfg.generate, v.generate)
            out = root / f"generate-{config_hash(data)}"
            if out not in stages:
                name = "generate" if not cfg.variants or not any(x.generate for x in variants) else f"generate {v.name}"
                gcfg = build_config(GenerateConfig, {**data, "output_dir": str(out)}, "generate")
                stages[out] = Stage("generate", name, out, gcfg, runs.finished(out, gcfg, "generate"))
            gen_name, corpus = stages[out].name, str(out / "corpus.jsonl")
        if cfg.pretrain is None:
            continue
        merged = deep_merge(cfg.pretrain, v.pretrain)
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


def _student_data(spec, sweep_finetune: dict) -> dict:
    """The fine-tuning section of one student: the sweep's, with the student's own changes. With no
    changes this is the sweep's section as it was, so no existing folder hash moves."""
    from fsa_distill.config import deep_merge

    data = deep_merge(sweep_finetune, spec.finetune) if spec.finetune else {**sweep_finetune}
    if data.get("prefix") == "":  # no prefix is the default: the same inputs, the same folder
        data.pop("prefix")
    if getattr(spec, "family", None):
        data["family"] = spec.family
    if getattr(spec, "recipe", "finetune") != "finetune":
        data["recipe"] = spec.recipe  # hashed (a multi-task run is not the fine-tuning), not a config key
    return data


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
                            data = {**_student_data(specs[name], sweep.finetune), "model": model, "task": task,
                                    "dataset": ds, "seed": seed, "label": name}
                            if fraction < 1:
                                data["train"] = {**data.get("train", {}), "data_fraction": fraction}
                            frac = f"-frac{fraction:g}" if fraction < 1 else ""
                            out = root / "finetune" / name / f"{task}-{Path(ds).name}{frac}-seed{seed}-{config_hash(data)}"
                            if out in stages:
                                continue
                            fcfg = _stage_config(data, out, f"finetune {name}")
                            tag = fraction_tag(fraction)
                            label = f"{name} {task}/{ds}{' ' + tag if tag else ''} seed {seed}"
                            stages[out] = Stage("finetune", label, out, fcfg, finished_run(fcfg) is not None, deps,
                                                sweep=sweep.name)
    return list(stages.values())


def _zeroshot_stages(cfg: PipelineConfig, root: Path, pretrained: dict) -> list[Stage]:
    """One zero-shot stage per (student, dataset) of `zeroshot`: the student's starting model (a
    variant's pretrained model, a plain student's own model), never a fine-tuned one."""
    from fsa_distill.config import deep_merge
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
                own = plan_.student_settings.get(name)
                data = {**(deep_merge(plan_.settings, own) if own else plan_.settings), "model": model,
                        "dataset": ds, "label": label}
                out = root / "zeroshot" / name / f"{Path(ds).name}-{config_hash(data)}"
                zcfg = build_config(ZeroShotConfig, {**data, "output_dir": str(out)}, f"zeroshot {name}")
                stages.append(Stage("zeroshot", f"zeroshot {label} {ds}", out, zcfg,
                                    runs.finished(out, zcfg, "zeroshot"), deps, sweep="zeroshot"))
    return stages


def plan(cfg: PipelineConfig) -> list[Stage]:
    """All stages in the order they run; each marked done where its result is already there: in
    the run folder, or committed in `results_dir` with the same config (see results.py)."""
    from fsa_distill.pipeline.results import committed

    root = Path(cfg.run_dir())
    upstream, pretrained = _upstream_stages(cfg, root)
    stages = upstream + _finetune_stages(cfg, root, pretrained) + _zeroshot_stages(cfg, root, pretrained)
    results = cfg.results_path()
    for s in stages:
        if s.done:
            s.status = "done"
        elif results and committed(s, root, Path(results)):
            s.done, s.status = True, "committed"
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


def _finetune_subprocess(stage: Stage, env: dict) -> tuple[Stage, int, str]:
    """One fine-tuning in its own process: its own threads (or GPU), and a crash stays its own."""
    stage.out.mkdir(parents=True, exist_ok=True)
    job = stage.out / "job.yaml"
    dump_config(stage.config, job)
    with open(stage.out / "job.log", "w") as logf:
        rc = subprocess.call([sys.executable, "-m", *_job_command(stage), str(job), "--quiet"],
                             stdout=logf, stderr=subprocess.STDOUT, env=env)
    tail = (stage.out / "job.log").read_text(errors="replace").strip().splitlines()[-1:] if rc else [""]
    return stage, rc, tail[0] if tail else ""


def _job_command(stage: Stage) -> list[str]:
    """The module and command that run one stage's job.yaml in its own process."""
    if stage.kind == "zeroshot":
        return ["fsa_distill.cli", "zeroshot"]
    if _is_multitask(stage):
        return ["fsa_distill.student.multitask"]
    return ["fsa_distill.cli", "finetune"]


def _is_multitask(stage: Stage) -> bool:
    return type(stage.config).__name__ == "MultitaskConfig"


def run_stage_here(stage: Stage, progress: bool) -> None:
    """One fine-tuning, multi-task or zero-shot stage in this process."""
    if stage.kind == "zeroshot":
        from fsa_distill.evaluation.zeroshot import zeroshot

        zeroshot(stage.config, progress=progress)
    elif _is_multitask(stage):
        from fsa_distill.student.multitask import multitask

        multitask(stage.config, progress=progress)
    else:
        from fsa_distill.student.finetune import finetune

        finetune(stage.config, progress=progress)


def job_envs(jobs: int) -> list[dict]:
    """Pin each parallel job to a GPU when there are several; else share the CPU threads."""
    import torch

    envs = []
    n_gpu = torch.cuda.device_count()
    threads = max(1, (os.cpu_count() or 1) // jobs)
    for i in range(jobs):
        env = dict(os.environ)
        if n_gpu > 1:
            env["CUDA_VISIBLE_DEVICES"] = str(i % n_gpu)
        elif n_gpu == 0:
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
        envs.append(env)
    return envs


def run_finetunes(todo: list[Stage], cfg: PipelineConfig, progress: bool, on_done=lambda stage: None) -> list[str]:
    """Returns the failures, one line each; the finished runs are kept whatever fails.
    `on_done(stage)` is called as each fine-tuning finishes (records are exported there)."""
    if not todo:
        return []
    if cfg.executor == "ray":
        from fsa_distill.pipeline.ray_executor import run_finetunes_on_ray

        failures = run_finetunes_on_ray(todo, cfg)
        for s in todo:
            on_done(s)
        return failures
    failures = []
    if cfg.jobs == 1:
        for i, s in enumerate(todo, 1):
            log.info("[%d/%d] %s %s", i, len(todo), s.kind, s.name)
            run_stage_here(s, progress)
            on_done(s)
        return failures
    envs = job_envs(cfg.jobs)
    from concurrent.futures import as_completed

    from tqdm.auto import tqdm

    with ThreadPoolExecutor(cfg.jobs) as pool, tqdm(total=len(todo), desc="fine-tuning jobs", disable=not progress) as bar:
        futures = [pool.submit(_finetune_subprocess, s, envs[i % cfg.jobs]) for i, s in enumerate(todo)]
        for fut in as_completed(futures):
            stage, rc, tail = fut.result()
            bar.update(1)
            if rc:
                failures.append(f"{stage.name}: exit {rc}: {tail} (log: {stage.out / 'job.log'})")
            else:
                on_done(stage)
    return failures


def run_upstream(s: Stage, cfg: PipelineConfig, progress: bool) -> None:
    """One generation (resumes by record key) or pretraining (resumes from its checkpoint)."""
    if s.kind == "generate":
        if cfg.executor == "ray":  # shards over the cluster, same resume guarantees
            from fsa_distill.teacher.ray_generate import generate_corpus_on_ray

            generate_corpus_on_ray(s.config, progress=progress, address=cfg.ray_address)
        else:
            from fsa_distill.teacher.generate import generate_corpus

            generate_corpus(s.config, progress=progress)
    else:
        from fsa_distill.student.pretrain import pretrain

        pretrain(s.config, progress=progress)


def waves(stages: list[Stage]) -> list[tuple[str, list[Stage], list[Stage]]]:
    """(sweep, upstream stages it still needs, its fine-tunings to run), in sweep order: a sweep's
    pretrainings run just before its fine-tunings, so the first sweep reports before the last
    pretraining starts."""
    by_name = {s.name: s for s in stages}
    started: set[str] = set()
    out = []

    def visit(name: str, need: list[Stage]) -> None:  # a stage's unfinished upstream, deps first
        dep = by_name[name]
        for d in dep.deps:
            visit(d, need)
        if not dep.done and name not in started:
            started.add(name)
            need.append(dep)

    jobs = ("finetune", "zeroshot")  # what runs as jobs; zero-shot stages come last, as their own wave
    for sweep in dict.fromkeys(s.sweep for s in stages if s.kind in jobs):
        todo = [s for s in stages if s.kind in jobs and s.sweep == sweep and not s.done]
        need: list[Stage] = []
        for s in todo:
            for d in s.deps:
                visit(d, need)
        out.append((sweep, need, todo))
    # Upstream stages no fine-tuning reads (e.g. a corpus built for later) still run, first.
    orphans = [s for s in stages if s.kind not in jobs and not s.done and s.name not in started]
    return ([("", orphans, [])] if orphans else []) + out


def run_pipeline(cfg: PipelineConfig, *, dry_run: bool = False, progress: bool = True,
                 report_only: bool = False) -> dict:
    """Plan, run what is not finished (sweep by sweep), report. `report_only`: the report over
    what is finished now (here or committed in results_dir), running nothing."""
    from fsa_distill.pipeline import results as committed_results

    root = Path(cfg.run_dir())
    results = Path(cfg.results_path()) if cfg.results_path() else None
    stages = plan(cfg)
    print_plan(stages)
    if dry_run:
        return {"stages": [{"kind": s.kind, "name": s.name, "done": s.done, "status": s.status, "out": str(s.out)}
                           for s in stages]}
    if cfg.executor == "ray" and not report_only:  # fail now, not after hours of generation and pretraining
        from fsa_distill.ray_cluster import require_ray

        require_ray()
        other = [s.name for s in stages if not s.done and (s.kind == "zeroshot" or _is_multitask(s))]
        if other:
            raise FsaError(f"--executor ray runs fine-tunings only, not {other[0]} ({len(other)} such stage(s)): "
                           "run this experiment with --executor local")
    root.mkdir(parents=True, exist_ok=True)
    dump_config(cfg, root / "experiment.yaml")
    if results is not None:
        for s in stages:
            committed_results.restore(s, root, results)
    if report_only:
        return {"report": write_pipeline_report(stages, root, cfg, results), "timing": {}, "stages": stages}

    def on_done(stage: Stage) -> None:
        if results is not None:
            committed_results.export(stage, root, results)

    t0 = time.perf_counter()
    timing: dict[str, float] = {}
    failures: list[str] = []
    report = None
    for sweep, upstream, todo in waves(stages):
        for s in upstream:
            t = time.perf_counter()
            run_upstream(s, cfg, progress)
            timing[f"{s.kind}_s"] = timing.get(f"{s.kind}_s", 0.0) + time.perf_counter() - t
            on_done(s)
        t = time.perf_counter()
        failures += run_finetunes(todo, cfg, progress, on_done)
        timing["finetune_s"] = timing.get("finetune_s", 0.0) + time.perf_counter() - t
        if todo:  # a report after every sweep: partial results are there to read and commit
            report = write_pipeline_report(stages, root, cfg, results)
    if report is None:
        report = write_pipeline_report(stages, root, cfg, results)
    timing["total_s"] = time.perf_counter() - t0
    runs.write_json(root / "pipeline_timing.json", timing)
    if failures:
        raise FsaError(f"{len(failures)} fine-tuning job(s) failed (the others are kept): " + "; ".join(failures))
    return {"report": report, "timing": timing, "stages": stages}


def write_pipeline_report(stages: list[Stage], root: Path, cfg: PipelineConfig, results: Path | None) -> dict:
    from fsa_distill.evaluation.report import write_report
    from fsa_distill.pipeline.results import publish_report

    finished = [str(s.out) for s in stages if s.kind in ("finetune", "zeroshot")
                and (s.out / runs.METRICS_FILE).is_file()]
    pre = {str(s.out): s.name for s in stages if s.kind == "pretrain"}
    if not finished:
        return {"markdown": "", "out": str(root / "report"), "plots": []}
    report = write_report(finished, root / "report", cfg.report.baseline, extra_dirs=pre,
                          baselines=cfg.report.baselines)
    if results is not None:
        publish_report(root / "report", results)
    return report
