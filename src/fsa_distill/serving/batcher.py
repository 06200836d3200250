"""Dynamic batching: texts from concurrent requests gathered into one generation call.

Every text of every request becomes one queue item with its own future. One collector task on
the event loop takes the first waiting item, then keeps taking items until it holds `max_batch`
texts or `max_wait_ms` has passed since the first, and hands the batch to a single worker
thread (`predict_fn`, i.e. one `SentimentAnalyzer.predict` call). While that thread generates,
new requests queue up, so under load each batch fills at once and throughput grows with the
number of clients; with one client a text waits at most `max_wait_ms`.

A request whose client went away cancels its futures; the collector skips cancelled items, so
texts still queued cost nothing (a batch already generating finishes: a generation cannot be
interrupted halfway).
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Sequence

log = logging.getLogger(__name__)


@dataclass
class BatchStats:
    calls: int = 0       # generation calls made
    texts: int = 0       # texts sent to them
    skipped: int = 0     # queued texts dropped because their request was cancelled
    largest: int = 0     # the largest batch so far


class Batcher:
    def __init__(self, predict_fn: Callable[[list[str]], list], max_batch: int = 32, max_wait_ms: float = 10.0):
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError("max_batch must be >= 1 and max_wait_ms >= 0")
        self.predict_fn, self.max_batch, self.max_wait = predict_fn, max_batch, max_wait_ms / 1000
        self.stats = BatchStats()
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        # One thread: generations never overlap (they would only fight over the same cores).
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fsa-generate")

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._collect(), name="fsa-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._pool.shutdown(wait=True)

    async def submit(self, texts: Sequence[str]) -> list:
        """Results for `texts`, in order. Cancelling the caller cancels its queued texts."""
        assert self._queue is not None, "Batcher.start() was not called"
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in texts]
        for text, fut in zip(texts, futures):
            self._queue.put_nowait((text, fut))
        try:
            return list(await asyncio.gather(*futures))
        except asyncio.CancelledError:
            for fut in futures:
                fut.cancel()
            raise

    async def _next_batch(self) -> list[tuple[str, asyncio.Future]]:
        batch = [await self._queue.get()]
        deadline = time.monotonic() + self.max_wait
        while len(batch) < self.max_batch:
            try:
                batch.append(self._queue.get_nowait())  # already waiting: no timer needed
                continue
            except asyncio.QueueEmpty:
                pass
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), left))
            except asyncio.TimeoutError:
                break
        live = [(t, f) for t, f in batch if not f.done()]
        self.stats.skipped += len(batch) - len(live)
        return live

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            if not batch:
                continue
            texts = [t for t, _ in batch]
            self.stats.calls += 1
            self.stats.texts += len(texts)
            self.stats.largest = max(self.stats.largest, len(texts))
            try:
                results = await loop.run_in_executor(self._pool, self.predict_fn, texts)
                error = None
            except Exception as e:  # noqa: BLE001 - handed to every caller of this batch
                log.exception("generation failed for a batch of %d text(s)", len(texts))
                results, error = None, e
            for i, (_, fut) in enumerate(batch):
                if fut.done():  # its client left while we generated
                    continue
                if error is not None:
                    fut.set_exception(error)
                else:
                    fut.set_result(results[i])
