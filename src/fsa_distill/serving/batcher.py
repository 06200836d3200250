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

One client can never fail another's request: when a batched call raises, the batch is split in
halves and each half generated again, down to single texts, so every text that can be generated
is answered and only the text that fails alone gets the error (`TextFailed`, naming its index in
its own request). One bad text in a batch of 32 costs 11 calls instead of 1.
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
    split: int = 0       # failed batches split in halves to find the failing text(s)
    failed: int = 0      # texts whose generation failed even alone


class TextFailed(Exception):
    """Generation failed for text `index` of a request (alone, not because of a batch-mate)."""

    def __init__(self, index: int):
        super().__init__(f"generation failed for text {index}")
        self.index = index


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
            results = await asyncio.gather(*futures, return_exceptions=True)
        except asyncio.CancelledError:
            for fut in futures:
                fut.cancel()
            raise
        for i, r in enumerate(results):
            if isinstance(r, BaseException):
                raise TextFailed(i) from r
        return list(results)

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
        while True:
            batch = await self._next_batch()
            if batch:
                await self._generate(batch)

    def _call(self, texts: list[str]) -> list:
        results = self.predict_fn(texts)
        if len(results) != len(texts):
            raise RuntimeError(f"predict returned {len(results)} results for {len(texts)} texts")
        return results

    async def _generate(self, batch: list[tuple[str, asyncio.Future]]) -> None:
        """One generation call for `batch`; if it raises, each half again (bisection), so the
        error reaches only the futures of texts that fail on their own."""
        texts = [t for t, _ in batch]
        self.stats.calls += 1
        self.stats.texts += len(texts)
        self.stats.largest = max(self.stats.largest, len(texts))
        try:
            results = await asyncio.get_running_loop().run_in_executor(self._pool, self._call, texts)
        except Exception as e:  # noqa: BLE001 - isolated below, then handed to its caller only
            if len(batch) > 1:
                self.stats.split += 1
                log.warning("generation failed for a batch of %d texts (%s: %s); retrying each half",
                            len(batch), type(e).__name__, str(e)[:200])
                mid = len(batch) // 2
                for half in (batch[:mid], batch[mid:]):
                    live = [(t, f) for t, f in half if not f.done()]
                    if live:
                        await self._generate(live)
                return
            self.stats.failed += 1
            log.exception("generation failed for one text of %d characters", len(texts[0]))
            if not batch[0][1].done():
                batch[0][1].set_exception(e)
            return
        for (_, fut), result in zip(batch, results):
            if not fut.done():  # its client left while we generated
                fut.set_result(result)
