"""The pipeline recipe: plan the stages (pipeline/plan.py), skip what is finished, run the rest, report.

Every stage's output folder is named by a hash of its resolved config, which includes the folders
of the stages it reads from. So changing a fine-tuning setting makes new fine-tuning folders and
leaves the corpus and the pretrained model alone; changing the teacher changes everything after
it. A stage whose folder holds a finished run with the same config is skipped; an interrupted one
resumes (generation by record key, pretraining from its last checkpoint) or reruns (a fine-tuning).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fsa_distill import runs
from fsa_distill.config import dump_config
from fsa_distill.errors import FsaError
from fsa_distill.pipeline.config import PipelineConfig
from fsa_distill.pipeline.plan import Stage, config_hash, plan, print_plan  # noqa: F401  (the plan, importable here)

log = logging.getLogger(__name__)


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
                 report_only: bool = False, students: list[str] | None = None) -> dict:
    """Plan, run what is not finished (sweep by sweep), report. `report_only`: the report over
    what is finished now (here or committed in results_dir), running nothing. `students`: only
    these students' stages run (plan's `students`); the report covers every finished run."""
    from fsa_distill.pipeline import results as committed_results

    root = Path(cfg.run_dir())
    results = Path(cfg.results_path()) if cfg.results_path() else None
    stages = plan(cfg, students)
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
