"""`fsa-distill run --executor ray`: the fine-tuning jobs of a sweep as Ray tasks.

One task = one `finetune()` (train one seed, pick the best epoch on dev, evaluate every view),
exactly what the local executor runs, so a finished run is skipped and an interrupted one redone
the same way. Each task reserves a whole GPU where the cluster has GPUs, else an equal share of a
node's CPUs with torch limited to that many threads. Run folders are written by the workers, so
the experiment's output folder must be on a filesystem every node mounts at the same path.
"""

from __future__ import annotations

import logging
import os

from fsa_distill.ray_cluster import enter_driver_cwd, ray_session

log = logging.getLogger(__name__)

# A worker lost mid-run (node gone, OOM kill) gets one more try; a job that crashes its worker
# every time is reported, not retried forever.
TASK_RETRIES = 1


def task_resources(ray, jobs: int) -> tuple[dict, int | None]:
    """Ray options for one fine-tuning task, and the torch threads it may use (None: default)."""
    if ray.cluster_resources().get("GPU", 0) >= 1:
        return {"num_gpus": 1, "num_cpus": 1}, None
    cpus = [int(n["Resources"]["CPU"]) for n in ray.nodes() if n.get("Alive") and n["Resources"].get("CPU", 0) >= 1]
    # `jobs` keeps its local meaning, jobs per machine: each takes 1/jobs of the smallest node.
    share = max(1, min(cpus, default=1) // jobs)
    return {"num_cpus": share}, share


def finetune_task(config: dict, cwd: str, threads: int | None) -> str:
    """Runs on a Ray worker: one fine-tuning with its log in the run folder's job.log."""
    enter_driver_cwd(cwd)
    if threads:
        import torch

        # Ray exports OMP_NUM_THREADS for the task's CPUs, but torch may already have its pool.
        torch.set_num_threads(threads)
    from fsa_distill.student.finetune import FinetuneConfig, finetune

    cfg = FinetuneConfig.model_validate(config)
    run_dir = cfg.run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(run_dir / "job.log", mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(min(root.level, logging.INFO) if root.level else logging.INFO)
    try:
        return finetune(cfg, progress=False)["run_dir"]
    finally:
        root.removeHandler(handler)
        handler.close()


def _one_line(err: BaseException) -> str:
    cause = getattr(err, "cause", None) or err  # RayTaskError carries the task's own exception
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}"


def run_finetunes_on_ray(stages: list, cfg) -> list[str]:
    """Run `stages` (pipeline Stages of kind finetune) on the Ray cluster at `cfg.ray_address`
    (default: $RAY_ADDRESS, else a local instance). Returns the failures, one line each; every run
    that finished is in its folder whatever else fails."""
    if not stages:
        return []
    with ray_session(cfg.ray_address) as ray:
        opts, threads = task_resources(ray, cfg.jobs)
        # max_calls=1: a fresh worker process per job, so GPU memory and torch state do not leak
        # from one seed into the next.
        task = ray.remote(max_calls=1)(finetune_task).options(max_retries=TASK_RETRIES, **opts)
        cwd = os.getcwd()
        running = {task.remote(s.config.model_dump(mode="json"), cwd, threads): s for s in stages}
        log.info("ray: %d fine-tuning jobs, each with %s", len(running), opts)
        failures: list[str] = []
        pending = list(running)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            stage = running[ready[0]]
            try:
                ray.get(ready[0])
                log.info("ray: finished %s (%d left)", stage.name, len(pending))
            except ray.exceptions.RayError as e:  # the job raised, or its worker died twice
                failures.append(f"{stage.name}: {_one_line(e)} (log: {stage.out / 'job.log'})")
    return failures
