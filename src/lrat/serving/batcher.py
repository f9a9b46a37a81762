"""Adaptive batching for /search: concurrent searches share one encode and one FAISS search.

A search that arrives while the engine is idle runs at once (no waiting window, so a lone agent pays nothing);
searches that arrive while a batch is running queue up and run together as the next batch, so the batch size
follows the load. BentoML's own batchable APIs reach a batch through an internal HTTP hop per call, which on
2 cores cost more than the search itself; this keeps the batching inside the worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    def __init__(self, run: Callable[[list[T]], list[R]], max_size: int = 32,
                 observe: Callable[[int], None] | None = None) -> None:
        self.run, self.max_size, self.observe = run, max_size, observe
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._worker: asyncio.Task[None] | None = None
        # one thread of its own: batches run one after another, always on the same thread (torch keeps one
        # thread pool per calling thread; hopping between the loop's shared threads measured slower)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lrat-search")

    async def submit(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:self.max_size], self._queue[self.max_size:]
            live = [(item, f) for item, f in batch if not f.cancelled()]
            if not live:
                continue
            if self.observe is not None:
                self.observe(len(live))
            try:
                results = await asyncio.get_running_loop().run_in_executor(
                    self._thread, self.run, [item for item, _ in live])
            except Exception as exc:  # the whole batch failed: every caller sees why
                for _, future in live:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(live, results, strict=True):
                if not future.done():
                    future.set_result(result)
