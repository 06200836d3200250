"""Corpus generation: reviews x prompt kinds -> teacher answers -> checked records on disk.

`generate_corpus(cfg)` is the whole stage (what `fsa-distill generate` and the pipeline call).
`generate_shard(cfg, reviews, path)` is its core and works on any slice of reviews and any output
file, so a distributed executor can hand each worker a shard and merge the files afterwards (keys
are global, so merging is concatenation plus a key check).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional

from fsa_distill import runs
from fsa_distill.errors import FsaError
from fsa_distill.resources import FolderLock, check_output_dir
from fsa_distill.teacher.backends import Backend, NoRecording, make_backend
from fsa_distill.teacher.config import GenerateConfig
from fsa_distill.teacher.corpus import (
    CorpusWriter,
    check_ours,
    record_key,
    scan,
    totals,
)
from fsa_distill.teacher.postprocess import judge
from fsa_distill.teacher.prompts import PromptSpec, get_prompt
from fsa_distill.teacher.reviews import Review, load_reviews

log = logging.getLogger(__name__)

CORPUS_FILE = "corpus.jsonl"


@dataclass(frozen=True)
class Task:
    review: Review
    kind: str
    spec: PromptSpec
    key: str


def plan_tasks(reviews: Iterable[Review], cfg: GenerateConfig, teacher: str) -> list[Task]:
    specs = {kind: get_prompt(getattr(cfg.prompts, kind), kind) for kind in cfg.kinds}
    return [Task(r, kind, spec, record_key(kind, spec.version, teacher, r.text))
            for r in reviews for kind, spec in specs.items()]


def build_record(task: Task, completion, teacher: str, cfg: GenerateConfig) -> dict:
    v = judge(task.review.text, task.kind, completion.text, completion.finish_reason, cfg.postprocess.drop,
              error=completion.error)
    r = task.review
    return {"key": task.key, "review_id": r.review_id, "text": r.text, "rating": r.rating, "domain": r.domain,
            "kind": task.kind, "prompt_version": task.spec.version, "teacher": teacher, "response": v.response,
            "raw_response": completion.text, "finish_reason": completion.finish_reason,
            "prompt_tokens": completion.prompt_tokens, "completion_tokens": completion.completion_tokens,
            "parsed": v.parsed, "flags": v.flags, "ok": v.ok}


async def _run(tasks: list[Task], backend: Backend, writer: CorpusWriter, cfg: GenerateConfig,
               on_commit: Callable[[int], None]) -> Counter:
    """Run tasks with bounded concurrency; a committer makes finished records durable in groups
    and only then counts them. A fatal error stops new requests, commits what is finished and
    re-raises."""
    return await _Generation(tasks, backend, writer, cfg, on_commit).run()


class _Generation:
    """The workers (one request each at a time, from one shared task iterator) and the committer
    of one `_run`, sharing the stats, the queue of finished records and the first fatal error."""

    def __init__(self, tasks: list[Task], backend: Backend, writer: CorpusWriter, cfg: GenerateConfig,
                 on_commit: Callable[[int], None]):
        self.tasks, self.backend, self.writer, self.cfg, self.on_commit = tasks, backend, writer, cfg, on_commit
        self.stats: Counter = Counter()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.todo = iter(tasks)
        self.fatal: list[BaseException] = []

    async def worker(self) -> None:
        g = self.cfg.generation
        for task in self.todo:  # a shared iterator: each task goes to exactly one worker
            if self.fatal:
                return
            prompt = task.spec.render(task.review.text, self.backend.mode, self.cfg.prompts.few_shot)
            try:
                c = await self.backend.acomplete(prompt, max_tokens=g.max_tokens, temperature=g.temperature)
            except NoRecording:
                self.stats["no_recording"] += 1
                continue
            except FsaError as e:
                self.fatal.append(e)
                return
            self.stats["retries"] += c.attempts - 1
            await self.queue.put(build_record(task, c, self.backend.teacher, self.cfg))

    async def committer(self) -> None:
        done = False
        while not done:
            batch = [await self.queue.get()]
            while not self.queue.empty():
                batch.append(self.queue.get_nowait())
            if batch[-1] is None:
                batch.pop()
                done = True
            if batch:
                # fsync off the event loop, so requests keep flowing while the disk works.
                try:
                    n = await asyncio.to_thread(self.writer.write_many, batch)
                except BaseException as e:  # disk full: stop paying for answers nobody can keep
                    self.fatal.append(e)
                    raise
                self.count(batch, n)
                self.on_commit(n)

    def count(self, batch: list[dict], written: int) -> None:
        self.stats["written"] += written
        for rec in batch:
            self.stats["ok" if rec["ok"] else "dropped"] += 1
            if rec["completion_tokens"] is not None:
                self.stats["with_tokens"] += 1
            for t in ("prompt_tokens", "completion_tokens"):
                self.stats[t] += rec[t] or 0

    async def run(self) -> Counter:
        commit_task = asyncio.create_task(self.committer())
        n = min(self.cfg.generation.concurrency, max(1, len(self.tasks)))
        workers = [asyncio.create_task(self.worker()) for _ in range(n)]
        try:
            pending = set(workers)
            while pending:
                finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for w in finished:
                    if w.exception() is not None:
                        self.fatal.append(w.exception())
                if self.fatal:  # no point waiting for in-flight requests to a failing teacher
                    for w in pending:
                        w.cancel()
                    await asyncio.gather(*pending, return_exceptions=True)
                    pending = set()
        finally:
            await self.queue.put(None)
            await commit_task
        if self.fatal:
            raise self.fatal[0]
        return self.stats


def generate_shard(cfg: GenerateConfig, reviews: list[Review], corpus_path: str | Path,
                   backend: Optional[Backend] = None, progress: bool = False) -> dict:
    """Generate the records of `reviews` into `corpus_path`, skipping keys already there."""
    corpus_path = Path(corpus_path)
    backend = backend or make_backend(cfg.backend)
    tasks = plan_tasks(reviews, cfg, backend.teacher)
    writer = CorpusWriter(corpus_path)  # cuts a torn tail before the scan reads the file
    try:
        done, _ = scan(corpus_path)
        todo = [t for t in tasks if t.key not in done]
        skipped_no_recording = 0
        if hasattr(backend, "has"):  # replay: know up front what has no recording
            todo_rec = [t for t in todo if backend.has(t.review.text, t.kind)]
            skipped_no_recording = len(todo) - len(todo_rec)
            todo = todo_rec
        total = len(tasks) - skipped_no_recording
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=total, initial=total - len(todo), unit="rec", desc="generate", dynamic_ncols=True,
                       smoothing=0.1)
        t0 = time.perf_counter()
        try:
            stats = asyncio.run(_run_and_close(todo, backend, writer, cfg, bar.update if bar else (lambda n: None)))
        finally:
            if bar:
                bar.close()
        elapsed = time.perf_counter() - t0
    finally:
        writer.close()
    stats["no_recording"] += skipped_no_recording
    written = stats["written"]
    known = stats["with_tokens"] > 0  # replay has no token counts: report null, not 0
    return {"planned": len(tasks), "already_done": len(tasks) - len(todo) - skipped_no_recording,
            "written": written, "ok": stats["ok"], "dropped": stats["dropped"],
            "no_recording": stats["no_recording"], "retries": stats["retries"],
            "torn_bytes_repaired": writer.torn_bytes, "elapsed_s": round(elapsed, 3),
            "records_per_s": round(written / elapsed, 2) if elapsed > 0 and written else 0.0,
            "prompt_tokens": stats["prompt_tokens"] if known else None,
            "completion_tokens": stats["completion_tokens"] if known else None,
            "completion_tokens_per_s": round(stats["completion_tokens"] / elapsed, 1) if known and elapsed > 0 else None}


async def _run_and_close(tasks, backend, writer, cfg, on_commit) -> Counter:
    try:
        return await _run(tasks, backend, writer, cfg, on_commit)
    finally:
        await backend.aclose()


def _save_config(cfg: GenerateConfig, out: Path) -> None:
    path = out / runs.CONFIG_FILE
    if path.exists() and not runs.same_config(path, cfg):
        # Records are keyed by teacher and prompt version, so mixing is safe, but say so.
        log.warning("%s differs from the previous run's config; records of both runs share %s",
                    path, CORPUS_FILE)
    runs.write_config(cfg, out, atomic=True)


def start_run(cfg: GenerateConfig, out: Path) -> tuple[list, dict]:
    """What every executor does first: the output folder, the resolved config, the reviews."""
    check_output_dir(out, "generate output_dir")
    out.mkdir(parents=True, exist_ok=True)
    check_ours(out / CORPUS_FILE)  # a stranger's corpus.jsonl: refuse before writing anything here
    _save_config(cfg, out)
    reviews, review_stats = load_reviews(cfg.reviews)
    if not reviews:
        raise FsaError(f"no reviews left to generate from ({review_stats})")
    return reviews, review_stats


def write_summary(cfg: GenerateConfig, out: Path, backend: dict, review_stats: dict, run: dict,
                  light: list[dict], **extra) -> dict:
    """summary.json (written last, atomically: a finished run) and its content."""
    summary = {"out": str(out), "corpus": str(out / CORPUS_FILE), "backend": backend,
               "kinds": list(cfg.kinds),
               "prompts": {k: getattr(cfg.prompts, k) for k in cfg.kinds},
               "reviews": review_stats, "run": run, "corpus_totals": totals(light, cfg.postprocess.drop), **extra}
    runs.write_json(out / runs.SUMMARY_FILE, summary, atomic=True)
    return summary


def generate_corpus(cfg: GenerateConfig, progress: bool = True) -> dict:
    """Run the whole teacher stage into `cfg.output_dir`; returns the summary also saved as summary.json."""
    out = check_output_dir(Path(cfg.output_dir), "generate output_dir")
    with FolderLock(out, "generate"):  # a second run on this folder would write every record twice
        reviews, review_stats = start_run(cfg, out)
        backend = make_backend(cfg.backend)
        run = generate_shard(cfg, reviews, out / CORPUS_FILE, backend=backend, progress=progress)
        _, light = scan(out / CORPUS_FILE)
        return write_summary(cfg, out, backend.describe(), review_stats, run, light)
