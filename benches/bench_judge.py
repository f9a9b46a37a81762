"""Judge throughput of the openai backend against a local chat-completions server that answers at once.

    .venv/bin/python benches/bench_judge.py                        # 4,000 texts, concurrency 1, 16, 32
    .venv/bin/python benches/bench_judge.py --texts 1000 --concurrency 1 8 64 --delay 0.01

The baseline is concurrency 1: a sequential client, one request at a time, as a plain loop over texts would be.
The server runs in this process (stdlib ThreadingHTTPServer), so the numbers measure the client's own overhead
(request building, HTTP, JSON parsing, the thread pool) plus a server that costs the same for every run; with a
real LLM the server dominates and concurrency matters more, which --delay imitates. The heuristic judge's
rate is printed alongside for scale. Goal: >= 200 verdicts/s with concurrency.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # tests/judge/server.py: the same scripted server the tests use

from tests.judge.server import MARKER, ChatServer  # noqa: E402

from lrat.judge import make_judge  # noqa: E402


def texts(n: int, seed: int = 0) -> list[str]:
    """Distinct reasoning-like texts, a quarter carrying the server's NOT_RELEVANT marker."""
    rng = random.Random(seed)
    words = "page island harbour founded year painter confirms background clue search next".split()
    return [f"{i}: " + " ".join(rng.choices(words, k=40)) + (f" {MARKER}" if i % 4 == 0 else "") for i in range(n)]


def run(url: str, batch: list[str], concurrency: int) -> tuple[float, dict[str, int]]:
    judge = make_judge("openai", url=url, model="bench", concurrency=concurrency, timeout=30.0, retries=0)
    try:
        start = time.perf_counter()
        verdicts = judge.judge(batch)
        seconds = time.perf_counter() - start
        stats = judge.stats()
    finally:
        judge.close()
    expected = ["NOT_RELEVANT" if MARKER in t else "RELEVANT" for t in batch]
    wrong = sum(v.label != label for v, label in zip(verdicts, expected, strict=True))
    if wrong or stats["errors"]:
        errors = sorted({str(v.error) for v in verdicts if v.error})[:3]
        raise SystemExit(f"concurrency {concurrency}: {wrong} wrong verdicts, stats {stats}, errors {errors}")
    return len(batch) / seconds, stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=4000, help="distinct texts per run")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 32], help="worker counts to compare")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds the server waits per request")
    args = parser.parse_args()

    print(f"{args.texts} distinct texts per run, server delay {args.delay * 1000:.0f} ms")
    heuristic = make_judge("heuristic")
    batch = texts(args.texts)
    start = time.perf_counter()
    heuristic.judge(batch)
    print(f"  heuristic            {args.texts / (time.perf_counter() - start):10.0f} verdicts/s (no HTTP)")
    base = None
    for concurrency in args.concurrency:
        with ChatServer(delay=args.delay) as server:
            rate, stats = run(server.url, texts(args.texts, seed=concurrency), concurrency)
            peak = server.max_in_flight
        base = base or rate
        print(f"  openai concurrency {concurrency:3d} {rate:10.0f} verdicts/s  x{rate / base:5.2f}  "
              f"calls {stats['calls']}, peak in flight {peak}")


if __name__ == "__main__":
    main()
