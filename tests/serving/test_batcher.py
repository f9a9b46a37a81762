"""Adaptive batching: a lone search runs at once; searches that arrive while a batch runs share the next one."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from lrat.serving.batcher import Batcher


def test_concurrent_submissions_share_batches_and_get_their_own_answers():
    seen: list[list[int]] = []
    gate = threading.Event()

    def run(items: list[int]) -> list[int]:
        seen.append(list(items))
        if len(seen) == 1:
            gate.wait(5)  # hold the first batch until the rest have queued
        return [i * 10 for i in items]

    async def main() -> list[int]:
        batcher = Batcher(run, max_size=4)
        first = asyncio.create_task(batcher.submit(0))
        await asyncio.sleep(0.05)
        rest = [asyncio.create_task(batcher.submit(i)) for i in range(1, 10)]
        await asyncio.sleep(0.05)
        gate.set()
        return [await first] + [await t for t in rest]

    assert asyncio.run(main()) == [i * 10 for i in range(10)]
    assert seen[0] == [0] and [len(b) for b in seen[1:]] == [4, 4, 1]  # max_size respected
    assert sorted(i for b in seen for i in b) == list(range(10))


def test_a_lone_search_does_not_wait():
    async def main() -> float:
        batcher = Batcher(lambda items: items, max_size=32)
        started = time.perf_counter()
        await batcher.submit("q")
        return time.perf_counter() - started

    assert asyncio.run(main()) < 0.5  # no batching window to sit out (generous bound: a thread hop)


def test_a_failed_batch_fails_its_callers_and_the_next_batch_runs():
    calls: list[list[str]] = []

    def run(items: list[str]) -> list[str]:
        calls.append(items)
        if "bad" in items:
            raise RuntimeError("encoder failed")
        return items

    observed: list[int] = []

    async def main() -> str:
        batcher = Batcher(run, observe=observed.append)
        with pytest.raises(RuntimeError, match="encoder failed"):
            await batcher.submit("bad")
        return await batcher.submit("good")

    assert asyncio.run(main()) == "good" and observed == [1, 1]
