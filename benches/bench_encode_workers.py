"""Corpus encoding with one process against several worker processes (`corpus_embeddings(..., workers=N)`), on the
default corpus with the packaged MiniLM, no cache; and whether the vectors are the same, bit for bit.

    .venv/bin/python benches/bench_encode_workers.py                       # data/world/corpus.jsonl, 1 vs 2 workers
    .venv/bin/python benches/bench_encode_workers.py --workers 4 --n 1000  # a quicker look, other pool size
    .venv/bin/python benches/bench_encode_workers.py --json benches/results/encode_workers.json

When the corpus is missing it is generated with `lrat simulate world` (params.yaml `world:`) into a temporary
folder. Both ways go through `corpus_embeddings` with ``cache_dir=None`` (the weights hash is skipped: it is the same
for both), so the times are what `lrat index` / `lrat evaluate` spend encoding an uncached corpus; the worker time
includes starting the processes (spawn, imports, loading the model). With --repeats > 1 the order alternates and
medians are reported. The load average before and after is recorded: on a shared machine it says how much the
numbers can be trusted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def corpus_texts(corpus: Path, tmp: Path) -> tuple[list[str], str]:
    if not corpus.is_file():
        world = tmp / "world"
        subprocess.run([sys.executable, "-m", "lrat", "simulate", "world", "--out", str(world), "--retriever", "",
                        "--metrics", str(tmp / "world.json"), "--quiet"], check=True)
        corpus = world / "corpus.jsonl"
    from lrat.retrieval.local import read_corpus

    return read_corpus(corpus)[1], str(corpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path("data/world/corpus.jsonl"))
    parser.add_argument("--model", default="base", help="'base' (the packaged MiniLM) or a model folder")
    parser.add_argument("--workers", type=int, default=2, help="the pool size compared with one process")
    parser.add_argument("--n", type=int, default=0, help="first N documents (0 = all)")
    parser.add_argument("--batch-size", type=int, default=64, help="encoder.py's default")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    from lrat import _offline

    _offline.apply_offline_defaults()
    import torch

    from lrat.retrieval.encoder import corpus_embeddings, encode, load_model

    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="lrat-bench-workers-") as tmp:
        texts, source = corpus_texts(args.corpus, Path(tmp))
    texts = texts[:args.n] if args.n else texts
    model = load_model(args.model)
    encode(model, texts[:args.batch_size], args.batch_size)  # warm-up: first-call costs of the one-process path

    ways = {1: None, args.workers: None}
    seconds: dict[int, list[float]] = {w: [] for w in ways}
    vectors: dict[int, np.ndarray] = {}
    order = list(ways)
    for repeat in range(args.repeats):
        for workers in order:
            start = time.perf_counter()
            vectors[workers] = corpus_embeddings(model, texts, None, batch_size=args.batch_size, progress=False,
                                                 model_key="bench", workers=workers)
            seconds[workers].append(time.perf_counter() - start)
            print(f"repeat {repeat + 1}: {workers} worker(s) {seconds[workers][-1]:7.1f} s "
                  f"({len(texts) / seconds[workers][-1]:6.1f} docs/s)", flush=True)
        order.reverse()

    median = {w: statistics.median(s) for w, s in seconds.items()}
    one, many = vectors[1], vectors[args.workers]
    result = {
        "documents": len(texts), "source": source, "model": args.model, "batch_size": args.batch_size,
        "repeats": args.repeats, "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "threads_per_worker": max(1, torch.get_num_threads() // args.workers),
        "seconds": {f"{w}_workers": round(s, 2) for w, s in median.items()},
        "docs_per_second": {f"{w}_workers": round(len(texts) / s, 1) for w, s in median.items()},
        "speedup": round(median[1] / median[args.workers], 3),
        "seconds_all_runs": {f"{w}_workers": [round(x, 2) for x in s] for w, s in seconds.items()},
        "identical": bool(np.array_equal(one, many)),
        "max_abs_diff": float(np.abs(one - many).max()) if one.shape == many.shape else None,
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result, indent=2))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if not result["identical"]:
        sys.exit(f"the {args.workers}-worker vectors differ from one process's")


if __name__ == "__main__":
    main()
