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


def plan(cfg: PipelineConfig) -> list[Stage]:
    from fsa_distill.student.finetune import FinetuneConfig, finished_run

    root = Path(cfg.run_dir())
    stages: list[Stage] = []
    corpus = None
    if cfg.generate is not None:
        from fsa_distill.teacher.config import GenerateConfig

        key = config_hash(cfg.generate)
        out = root / f"generate-{key}"
        gcfg = build_config(GenerateConfig, {**cfg.generate, "out": str(out)}, "generate")
        done = (out / "summary.json").exists()
        stages.append(Stage("generate", "generate", out, gcfg, done))
        corpus = str(out / "corpus.jsonl")
    pretrained = None
    if cfg.pretrain is not None:
        from fsa_distill.student.pretrain import PretrainConfig

        data = json.loads(json.dumps(cfg.pretrain))
        if corpus is not None:
            data.setdefault("data", {})["corpus"] = [corpus]
        out = root / f"pretrain-{config_hash(data)}"
        pcfg = build_config(PretrainConfig, {**data, "output_dir": str(out)}, "pretrain")
        done = (out / "summary.json").exists() and (out / "final_model" / "config.json").exists()
        stages.append(Stage("pretrain", "pretrain", out, pcfg, done, ["generate"] if corpus else []))
        pretrained = str(out / "final_model")
    for student in cfg.students:
        model = pretrained if student.model == PRETRAINED else student.model
        for task, datasets in cfg.tasks.items():
            for ds in datasets:
                for seed in cfg.seeds:
                    data = {**cfg.finetune, "model": model, "task": task, "dataset": ds, "seed": seed,
                            "label": student.name}
                    key = config_hash(data)
                    out = root / "finetune" / student.name / f"{task}-{Path(ds).name}-seed{seed}-{key}"
                    fcfg = build_config(FinetuneConfig, {**data, "output_dir": str(out)}, "finetune")
                    deps = ["pretrain"] if student.model == PRETRAINED else []
                    stages.append(Stage("finetune", f"{student.name} {task}/{ds} seed {seed}", out, fcfg,
                                        finished_run(fcfg) is not None, deps))
    return stages


def print_plan(stages: list[Stage]) -> None:
    from fsa_distill.ui import print_table

    print_table("plan", ("stage", "what", "status", "folder"),
                [(s.kind, s.name, "done, skip" if s.done else "to run", s.out) for s in stages])


def _finetune_subprocess(stage: Stage, env: dict) -> tuple[Stage, int, str]:
    """One fine-tuning in its own process: its own threads (or GPU), and a crash stays its own."""
    stage.out.mkdir(parents=True, exist_ok=True)
    job = stage.out / "job.yaml"
    dump_config(stage.config, job)
    with open(stage.out / "job.log", "w") as logf:
        rc = subprocess.call([sys.executable, "-m", "fsa_distill.cli", "finetune", str(job), "--quiet"],
                             stdout=logf, stderr=subprocess.STDOUT, env=env)
    tail = (stage.out / "job.log").read_text(errors="replace").strip().splitlines()[-1:] if rc else [""]
    return stage, rc, tail[0] if tail else ""


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


def run_finetunes(stages: list[Stage], cfg: PipelineConfig, progress: bool) -> list[str]:
    """Returns the failures, one line each; the finished runs are kept whatever fails."""
    from fsa_distill.student.finetune import finetune

    todo = [s for s in stages if not s.done]
    if not todo:
        return []
    if cfg.executor == "ray":
        from fsa_distill.pipeline.ray_executor import run_finetunes_on_ray

        return run_finetunes_on_ray(todo, cfg)
    failures = []
    if cfg.jobs == 1:
        for i, s in enumerate(todo, 1):
            log.info("[%d/%d] fine-tuning %s", i, len(todo), s.name)
            finetune(s.config, progress=progress)
        return failures
    envs = job_envs(cfg.jobs)
    from tqdm.auto import tqdm

    with ThreadPoolExecutor(cfg.jobs) as pool, tqdm(total=len(todo), desc="fine-tuning jobs", disable=not progress) as bar:
        futures = [pool.submit(_finetune_subprocess, s, envs[i % cfg.jobs]) for i, s in enumerate(todo)]
        for fut in futures:
            stage, rc, tail = fut.result()
            bar.update(1)
            if rc:
                failures.append(f"{stage.name}: exit {rc}: {tail} (log: {stage.out / 'job.log'})")
    return failures


def run_pipeline(cfg: PipelineConfig, *, dry_run: bool = False, progress: bool = True) -> dict:
    root = Path(cfg.run_dir())
    stages = plan(cfg)
    print_plan(stages)
    if dry_run:
        return {"stages": [{"kind": s.kind, "name": s.name, "done": s.done, "out": str(s.out)} for s in stages]}
    if cfg.executor == "ray":  # fail now, not after hours of generation and pretraining
        from fsa_distill.teacher.ray_generate import require_ray

        require_ray()
    root.mkdir(parents=True, exist_ok=True)
    dump_config(cfg, root / "experiment.yaml")
    t0 = time.perf_counter()
    timing = {}
    for s in stages:
        if s.kind == "generate":
            t = time.perf_counter()
            if cfg.executor == "ray":  # shards over the cluster, same resume guarantees
                from fsa_distill.teacher.ray_generate import generate_corpus_on_ray

                generate_corpus_on_ray(s.config, progress=progress, address=cfg.ray_address)
            else:
                from fsa_distill.teacher.generate import generate_corpus

                generate_corpus(s.config, progress=progress)  # resumes by record key; cheap when done
            timing["generate_s"] = time.perf_counter() - t
        elif s.kind == "pretrain":
            from fsa_distill.student.pretrain import pretrain

            t = time.perf_counter()
            pretrain(s.config, progress=progress)  # skips when finished, resumes from a checkpoint
            timing["pretrain_s"] = time.perf_counter() - t
    t = time.perf_counter()
    failures = run_finetunes([s for s in stages if s.kind == "finetune"], cfg, progress)
    timing["finetune_s"] = time.perf_counter() - t
    from fsa_distill.evaluation.report import write_report

    pre = [str(s.out) for s in stages if s.kind == "pretrain"]
    report = write_report([str(s.out) for s in stages if s.kind == "finetune"], root / "report",
                          cfg.report.baseline, extra_dirs=pre)
    timing["total_s"] = time.perf_counter() - t0
    (root / "pipeline_timing.json").write_text(json.dumps(timing, indent=2), encoding="utf-8")
    if failures:
        raise FsaError(f"{len(failures)} fine-tuning job(s) failed (the others are kept): " + "; ".join(failures))
    return {"report": report, "timing": timing, "stages": stages}
