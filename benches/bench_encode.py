"""Corpus-encoding throughput of the project's one cached path (`corpus_embeddings`) against plain
``SentenceTransformer.encode`` on the same passages, in the same process.

    .venv/bin/python benches/bench_encode.py                      # 2,000 passages of data/world/corpus.jsonl
    .venv/bin/python benches/bench_encode.py --n 1000 --repeats 2 # a quicker look

Three ways, interleaved (the order rotates every repeat, so drift from another process on the CPU hits all
alike), medians reported:
  plain      model.encode(texts, batch_size, normalize_embeddings=True)
  no-cache   corpus_embeddings(model, texts, cache_dir=None, ...)   (weights fingerprint + text hash + encode)
  cold-cache corpus_embeddings(model, texts, <empty dir>, ...)      (the same + np.save of the vectors)
Goal: project path / plain >= 0.95. The fixed costs of the project path are also timed on their own.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def passages(corpus: Path, n: int, seed: int = 0) -> tuple[list[str], str]:
    if corpus.is_file():
        from lrat.retrieval.local import read_corpus

        _, texts = read_corpus(corpus)
        if len(texts) >= n:
            return texts[:n], str(corpus)
    rng = random.Random(seed)
    words = [f"{a}{b}" for a in ("mar", "tel", "os", "quin", "ber", "lod", "ev", "sun") for b in
             ("ton", "a", "ric", "holm", "wick", "en", "ard", "ley", "is")]
    return [" ".join(rng.choice(words) for _ in range(100)) for _ in range(n)], "synthetic 100-word passages"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path("data/world/corpus.jsonl"))
    parser.add_argument("--n", type=int, default=2000, help="passages to encode per run")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each way (interleaved)")
    parser.add_argument("--batch-size", type=int, default=64, help="the same for every way (encoder.py default)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    from lrat import _offline

    _offline.apply_offline_defaults()
    import torch

    from lrat.retrieval.encoder import BASE, corpus_embeddings, fingerprint, load_model

    texts, source = passages(args.corpus, args.n)
    model = load_model(BASE)
    model.encode(texts[:128], batch_size=args.batch_size, normalize_embeddings=True)  # warm-up: first-call costs

    def plain() -> np.ndarray:
        return model.encode(texts, batch_size=args.batch_size, normalize_embeddings=True)

    def no_cache() -> np.ndarray:
        return corpus_embeddings(model, texts, None, batch_size=args.batch_size, progress=False)

    def cold_cache() -> np.ndarray:
        with tempfile.TemporaryDirectory() as tmp:
            return corpus_embeddings(model, texts, Path(tmp), batch_size=args.batch_size, progress=False)

    ways = {"plain": plain, "no-cache": no_cache, "cold-cache": cold_cache}
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    outputs: dict[str, np.ndarray] = {}
    order = list(ways)
    for repeat in range(args.repeats):
        for name in order:
            start = time.perf_counter()
            outputs[name] = ways[name]()
            seconds[name].append(time.perf_counter() - start)
            print(f"repeat {repeat + 1} {name:10s} {args.n / seconds[name][-1]:7.1f} passages/s", flush=True)
        order = order[1:] + order[:1]

    # the project path's fixed costs, alone
    start = time.perf_counter()
    fingerprint(model)
    t_fingerprint = time.perf_counter() - start
    start = time.perf_counter()
    digest = hashlib.sha256(b"")
    for text in texts:
        digest.update(hashlib.sha256(text.encode()).digest())
    t_hash = time.perf_counter() - start
    start = time.perf_counter()
    np.ascontiguousarray(outputs["plain"], dtype=np.float32)
    t_copy = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        np.save(Path(tmp) / "v.npy", outputs["plain"])
        t_save = time.perf_counter() - start

    median = {name: statistics.median(values) for name, values in seconds.items()}
    rate = {name: round(args.n / value, 1) for name, value in median.items()}
    result = {
        "passages": args.n, "source": source, "batch_size": args.batch_size, "repeats": args.repeats,
        "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "passages_per_second": rate,
        "ratio_vs_plain": {name: round(median["plain"] / median[name], 3) for name in ("no-cache", "cold-cache")},
        "seconds_all_runs": {name: [round(s, 2) for s in values] for name, values in seconds.items()},
        "fixed_costs_seconds": {"fingerprint": round(t_fingerprint, 3), "text_hash": round(t_hash, 4),
                                "ascontiguousarray": round(t_copy, 5), "np_save": round(t_save, 4)},
        "max_abs_diff_vs_plain": float(max(np.abs(outputs[name] - outputs["plain"]).max()
                                           for name in ("no-cache", "cold-cache"))),
    }
    print(json.dumps(result, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
