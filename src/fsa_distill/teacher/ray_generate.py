"""`fsa-distill generate --executor ray`: the teacher stage spread over a Ray cluster.

The driver (where the command runs) loads and cleans the reviews exactly as the local path does,
drops the reviews whose records are all done, and cuts the rest into shards by a hash of the review
text. A Ray Data pipeline hands the shards, one at a time, to a pool of actors; each actor holds one
teacher backend (a connection to its node's OpenAI-compatible server, or a local engine on its own
GPU) and runs `generate_shard` into `<out>/shards/shard-NNNNN.jsonl`. When the shards are done the
driver merges them into `<out>/corpus.jsonl`, one record per key.

Why this keeps the local path's guarantees:
- a shard file is written by `generate_shard` with its fsync'd writer and torn-line repair, and a
  file lock makes sure one process at a time writes it;
- a review always falls in the same shard (same text, same shard count), so a retried or re-run
  shard finds its finished records in its own file and skips them;
- the merge appends only keys the corpus lacks, so it can be interrupted and repeated.
`<out>` must therefore be a folder every node sees (NFS, a shared volume); a worker that cannot
see the driver's folder stops with an error instead of writing somewhere nobody merges from.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import math
import os
import socket
import time
import uuid
import warnings
from pathlib import Path
from typing import Iterator, Optional

from fsa_distill.errors import FsaError
from fsa_distill.ray_cluster import enter_driver_cwd, ray_session, require_ray
from fsa_distill.resources import FolderLock, check_output_dir
from fsa_distill.teacher.config import GenerateConfig
from fsa_distill.teacher.corpus import CorpusWriter
from fsa_distill.teacher.generate import (
    CORPUS_FILE,
    plan_tasks,
    start_run,
    write_summary,
)
from fsa_distill.teacher.reviews import Review
from fsa_distill.teacher.text import normalize_text

log = logging.getLogger(__name__)

SHARDS_DIR = "shards"
TOKEN_FILE = ".run-token"
# Shards are the unit of retry and of resume bookkeeping: small enough that a lost worker redoes
# little and one shard's reviews sit comfortably in memory, and at least MIN_SHARDS so a small run
# still spreads over a few workers. The count depends only on the number of reviews, so a re-run
# of the same config puts every review in the same shard again.
SHARD_REVIEWS = 2000
MIN_SHARDS = 16
LOCAL_ENGINES = ("transformers", "llama-cpp")
# A worker that dies mid-shard (node lost, OOM kill) is restarted and the shard retried; a shard
# that kills its worker every time is given up after this many retries instead of looping forever.
SHARD_RETRIES = 3

# --------------------------------------------------------------------------------- shards on disk

def shard_count(n_reviews: int) -> int:
    return max(1, min(n_reviews, max(MIN_SHARDS, math.ceil(n_reviews / SHARD_REVIEWS))))


def shard_of(text: str, n_shards: int) -> int:
    # Same normalization as the record key, so reviews that share keys share a shard.
    digest = hashlib.sha256(normalize_text(text).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n_shards


def shard_path(shards_dir: Path, shard: int) -> Path:
    return shards_dir / f"shard-{shard:05d}.jsonl"


@contextlib.contextmanager
def shard_lock(path: Path) -> Iterator[None]:
    """Hold `<shard>.lock` while writing the shard. Ray may start a retry of a shard while the
    process of the first attempt still runs (a node cut off from the cluster, not dead); two
    writers would cut each other's lines as torn. The lock holder's host and pid are written in
    the file for whoever needs to find it. The OS drops the lock when its process dies."""
    with open(path.with_suffix(".lock"), "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        f.truncate()
        f.write(f"{socket.gethostname()} {os.getpid()}\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def complete_records(path: Path) -> Iterator[dict]:
    """The records of a corpus or shard file, read-only. A last line without a newline is a
    record being written or torn by a crash; it is not done, so it is left out (the file's next
    writer cuts it)."""
    if not path.exists():
        return
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            if not line.endswith(b"\n"):
                return
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                rec["key"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise FsaError(f"{path}:{lineno}: not a corpus record; the file was edited or is not "
                               "ours (move it away to start over)") from None
            yield rec


def done_keys(out: Path) -> set[str]:
    keys = {r["key"] for r in complete_records(out / CORPUS_FILE)}
    for path in sorted((out / SHARDS_DIR).glob("shard-*.jsonl")):
        keys.update(r["key"] for r in complete_records(path))
    return keys


def merge_shards(out: Path) -> int:
    """Append to corpus.jsonl every shard record whose key it lacks; returns how many. Safe to
    interrupt (the writer cuts a torn tail on the next open) and to repeat (keys already there are
    skipped), so it runs at the end of every Ray run, finishing an earlier interrupted merge too."""
    corpus = out / CORPUS_FILE
    added = 0
    with CorpusWriter(corpus) as writer:
        have = {r["key"] for r in complete_records(corpus)}
        for path in sorted((out / SHARDS_DIR).glob("shard-*.jsonl")):
            batch: list[dict] = []
            for rec in complete_records(path):
                if rec["key"] in have:
                    continue
                have.add(rec["key"])
                batch.append(rec)
                if len(batch) >= 1000:
                    added += writer.write_many(batch)
                    batch = []
            added += writer.write_many(batch)
    return added


def teacher_id(backend_cfg) -> str:
    """The teacher id a backend will write into records (part of the key), known without loading
    the backend: the driver needs it to tell done records from new ones, and loading a local
    engine on the driver would waste a GPU. Workers check that their backend agrees."""
    if backend_cfg.type == "llama-cpp":
        return backend_cfg.teacher or Path(backend_cfg.model_path).expanduser().name
    if backend_cfg.type == "replay":
        return backend_cfg.teacher
    return backend_cfg.teacher or backend_cfg.model


# ------------------------------------------------------------------------------------ the workers

class ShardWorker:
    """A Ray Data actor: one teacher backend, built once and reused for every shard it is given.

    Errors a user can fix (a wrong URL, a missing model, an unshared folder) come back as the
    shard's `error` instead of an exception, so the other shards finish and the driver reports one
    line per distinct error."""

    def __init__(self, cfg: dict, cwd: str, shards_dir: str, token: str, teacher: str):
        from fsa_distill.teacher.backends import make_backend

        self.cfg = GenerateConfig.model_validate(cfg)
        self.shards_dir = Path(shards_dir)
        self.backend = None
        self.error = None
        try:
            enter_driver_cwd(cwd)
            seen = (self.shards_dir / TOKEN_FILE).read_text().strip() if (self.shards_dir / TOKEN_FILE).exists() else None
            if seen != token:
                raise FsaError(f"worker on {socket.gethostname()} does not see {self.shards_dir} as the driver "
                               "wrote it; the output folder must be on a filesystem every Ray node shares")
            self.backend = make_backend(self.cfg)
            if self.backend.teacher != teacher:
                raise FsaError(f"worker backend says teacher {self.backend.teacher!r}, the driver expected "
                               f"{teacher!r}; keys would not match")
        except FsaError as e:
            self.error = str(e)

    def __call__(self, batch: dict) -> dict:
        from fsa_distill.teacher.generate import generate_shard

        shard = int(batch["shard"][0])
        result: dict = {"shard": shard, "host": socket.gethostname(), "pid": os.getpid()}
        if self.error is None:
            reviews = [Review(**r) for r in json.loads(str(batch["reviews"][0]))]
            path = shard_path(self.shards_dir, shard)
            try:
                with shard_lock(path):
                    result["run"] = generate_shard(self.cfg, reviews, path, backend=self.backend)
                result["backend"] = self.backend.describe()
            except FsaError as e:
                result["error"] = str(e)
        else:
            result["error"] = self.error
        return {"shard": [shard], "result": [json.dumps(result)]}


def worker_plan(ray, backend_type: str, workers: Optional[int]) -> tuple[int, dict]:
    """How many actors and what each reserves. A local engine takes a whole GPU when the cluster
    has GPUs (one engine per GPU); otherwise one actor per node, spread over the nodes, so that
    each talks to the OpenAI-compatible server on its own node (base_url 127.0.0.1) with
    `generation.concurrency` requests in flight."""
    gpus = int(ray.cluster_resources().get("GPU", 0))
    if backend_type in LOCAL_ENGINES and gpus:
        return workers or gpus, {"num_gpus": 1}
    nodes = [n for n in ray.nodes() if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]
    return workers or max(1, len(nodes)), {"num_cpus": 1, "scheduling_strategy": "SPREAD"}


def run_shards(ray, cfg: GenerateConfig, shards: dict[int, list[Review]], shards_dir: Path, token: str,
               teacher: str, workers: Optional[int], progress: bool) -> list[dict]:
    from ray.data import ActorPoolStrategy, DataContext

    n_actors, resources = worker_plan(ray, cfg.backend.type, workers)
    n_actors = max(1, min(n_actors, len(shards)))
    rows = [{"shard": i, "reviews": json.dumps([dataclasses.asdict(r) for r in revs], ensure_ascii=False)}
            for i, revs in sorted(shards.items())]
    # One shard at a time per actor: a shard queued behind another on a busy actor could not be
    # taken over by an idle one, and shards run for minutes.
    pool = ActorPoolStrategy(size=n_actors, max_tasks_in_flight_per_actor=1)
    ctx = DataContext.get_current()
    bars, ctx.enable_progress_bars = ctx.enable_progress_bars, progress
    try:
        with warnings.catch_warnings():
            # Retries and placement have no named parameter in Ray Data yet; the generic remote
            # args that carry them are deprecated (removal announced for Ray 2.64).
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
            # One block per shard, so a shard is one task: the unit Ray retries and balances.
            ds = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
                ShardWorker, batch_size=1, batch_format="numpy", compute=pool,
                fn_constructor_kwargs={"cfg": cfg.model_dump(mode="json"), "cwd": os.getcwd(),
                                       "shards_dir": str(shards_dir), "token": token, "teacher": teacher},
                max_restarts=-1, max_task_retries=SHARD_RETRIES, **resources)
        return [json.loads(row["result"]) for row in ds.take_all()]
    finally:
        ctx.enable_progress_bars = bars


# ------------------------------------------------------------------------------------- the stage

def _recorded(cfg: GenerateConfig):
    """Whether a task can be answered at all. Only the replay backend knows up front (and is cheap
    to load on the driver); without this, every re-run of a replay corpus would send out all the
    reviews that have a recording for one kind only."""
    if cfg.backend.type != "replay":
        return lambda task: True
    from fsa_distill.teacher.backends import make_backend

    backend = make_backend(cfg.backend)
    return lambda task: backend.has(task.review.text, task.kind)


def _sum_runs(runs: list[dict], planned: int, skipped: dict, elapsed: float) -> dict:
    """One `run` block in the local path's shape, summed over the shards of this run."""
    def total(k):
        return sum(r[k] for r in runs)

    def known(k):
        vals = [r[k] for r in runs if r[k] is not None]
        return sum(vals) if vals else None

    written, completion = total("written"), known("completion_tokens")
    return {"planned": planned, "already_done": skipped["done"] + total("already_done"), "written": written,
            "ok": total("ok"), "dropped": total("dropped"),
            "no_recording": skipped["no_recording"] + total("no_recording"),
            "retries": total("retries"), "torn_bytes_repaired": total("torn_bytes_repaired"),
            "elapsed_s": round(elapsed, 3),
            "records_per_s": round(written / elapsed, 2) if elapsed > 0 and written else 0.0,
            "prompt_tokens": known("prompt_tokens"), "completion_tokens": completion,
            "completion_tokens_per_s": round(completion / elapsed, 1) if completion is not None and elapsed > 0 else None}


def _shards_by_worker(results: list[dict]) -> dict[str, list[int]]:
    by: dict[str, list[int]] = {}
    for r in results:
        by.setdefault(f"{r['host']}:{r['pid']}", []).append(r["shard"])
    return {w: sorted(s) for w, s in sorted(by.items())}


def generate_corpus_on_ray(cfg: GenerateConfig, progress: bool = True, address: Optional[str] = None,
                           n_shards: Optional[int] = None, workers: Optional[int] = None) -> dict:
    """The teacher stage on Ray; same output folder, corpus and summary.json as `generate_corpus`,
    plus `<out>/shards/`. Returns the summary."""
    require_ray()  # before any work: a missing extra is a one-line error, not a late crash
    out = check_output_dir(Path(cfg.output_dir), "generate output_dir")
    with FolderLock(out, "generate"):  # the same lock as the local executor's
        return _run_on_ray(cfg, out, progress, address, n_shards, workers)


def _run_on_ray(cfg: GenerateConfig, out: Path, progress: bool, address: Optional[str],
                n_shards: Optional[int], workers: Optional[int]) -> dict:
    reviews, review_stats = start_run(cfg, out)
    shards_dir = out / SHARDS_DIR
    shards_dir.mkdir(parents=True, exist_ok=True)
    teacher = teacher_id(cfg.backend)
    tasks = plan_tasks(reviews, cfg, teacher)
    done = done_keys(out)
    recorded = _recorded(cfg)
    todo = {id(t.review) for t in tasks if t.key not in done and recorded(t)}  # reviews with work left
    # The reviews not sent out still count in the summary, as the local path counts them.
    left = [t for t in tasks if id(t.review) not in todo]
    skipped = {"done": sum(t.key in done for t in left), "no_recording": sum(t.key not in done for t in left)}
    n_shards = n_shards or shard_count(len(reviews))
    shards: dict[int, list[Review]] = {}
    for r in reviews:
        if id(r) in todo:
            shards.setdefault(shard_of(r.text, n_shards), []).append(r)

    t0 = time.perf_counter()
    results: list[dict] = []
    crash = None
    if shards:
        token = uuid.uuid4().hex
        (shards_dir / TOKEN_FILE).write_text(token + "\n", encoding="utf-8")
        log.info("ray: %d of %d reviews to do, in %d of %d shards", len(todo), len(reviews), len(shards), n_shards)
        with ray_session(address) as ray:
            try:
                results = run_shards(ray, cfg, shards, shards_dir, token, teacher, workers, progress)
            except ray.exceptions.RayError as e:  # a shard out of retries; the other shards' work is on disk
                crash = str(e).strip().splitlines()[-1]
    elapsed = time.perf_counter() - t0
    merged = merge_shards(out)  # also after a failure: what finished is kept
    errors = sorted({r["error"] for r in results if "error" in r})
    if crash or errors:
        lost = len(shards) - sum(1 for r in results if "run" in r)
        raise FsaError(f"{lost} of {len(shards)} shards did not finish (the rest are merged into "
                       f"{out / CORPUS_FILE}; re-run to resume): " + "; ".join(errors + ([crash] if crash else [])))

    runs = [r["run"] for r in results]
    backends = [r["backend"] for r in results if "backend" in r]
    light = [{k: rec.get(k) for k in ("kind", "ok", "flags", "prompt_tokens", "completion_tokens")}
             for rec in complete_records(out / CORPUS_FILE)]
    return write_summary(cfg, out, backends[0] if backends else {"backend": cfg.backend.type, "teacher": teacher},
                         review_stats, _sum_runs(runs, len(tasks), skipped, elapsed), light,
                         executor={"type": "ray", "shards": n_shards, "shards_run": len(shards), "merged": merged,
                                   "workers": _shards_by_worker(results)})
