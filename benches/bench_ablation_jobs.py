"""The ablation's two variants (naive, filter) trained and their corpus encoded one after the other in this process
(`ablation.jobs: 1`) against two jobs at once, each a process with its share of the threads (`ablation.jobs: 2`),
on the pipeline's labels and corpus; and how far the two ways' corpus vectors are apart.

    .venv/bin/python benches/bench_ablation_jobs.py                  # after `make run`; 160 rows, 1,000 documents
    .venv/bin/python benches/bench_ablation_jobs.py --max-rows 480 --docs 0   # the pipeline's size (~10 minutes)

Both ways write to a throw-away MLflow store and vector cache; nothing of the pipeline's is touched.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--labels", type=Path, default=Path("data/labels/labels.jsonl"))
    parser.add_argument("--naive-labels", type=Path, default=Path("models/ablation/naive_labels.jsonl"))
    parser.add_argument("--corpus", type=Path, default=Path("data/world/corpus.jsonl"))
    parser.add_argument("--max-rows", type=int, default=160, help="training rows per variant (32 per step)")
    parser.add_argument("--docs", type=int, default=1000, help="first N corpus documents encoded (0 = all)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    for path in (args.labels, args.naive_labels, args.corpus):
        if not path.is_file():
            raise SystemExit(f"{path} not found: run `make run` first")

    from lrat import _offline

    _offline.apply_offline_defaults()
    import numpy as np
    import torch

    from lrat.benchmark import Benchmark
    from lrat.retrieval.encoder import fingerprint, load_model
    from lrat.settings import load_settings
    from lrat.training.ablation import train_variants, variants

    values = load_settings(Path("params.yaml"))
    cfg = values.train.model_copy(update={"max_rows": args.max_rows})
    todo = {name: (args.naive_labels if name == "naive" else args.labels, variant)
            for name, variant in variants(cfg).items()}
    load_before = [round(x, 2) for x in os.getloadavg()]
    seconds, vectors = {}, {}
    with tempfile.TemporaryDirectory(prefix="lrat-bench-ablation-") as tmp:
        corpus = args.corpus
        if args.docs:
            corpus = Path(tmp) / "corpus.jsonl"
            with args.corpus.open(encoding="utf-8") as src:
                corpus.write_text("".join(line for _, line in zip(range(args.docs), src, strict=False)))
        bench = Benchmark(corpus, Path("unused"), Path("unused"), Path("unused"))
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp}/mlflow.db"
        for jobs in (1, 2):
            cache = Path(tmp) / f"cache{jobs}"
            start = time.perf_counter()
            retrieval = values.retrieval.model_copy(update={"cache_dir": cache})
            train_variants(todo, Path(tmp) / f"models{jobs}", args.corpus, bench, retrieval, jobs, progress=False)
            seconds[jobs] = round(time.perf_counter() - start, 1)
            print(f"jobs {jobs}: {seconds[jobs]} s", flush=True)
            for name in todo:
                key = fingerprint(load_model(str(Path(tmp) / f"models{jobs}" / name)))
                vectors[jobs, name] = np.load(next(cache.glob(f"{key}-*.npy")))
    diffs = {name: float(np.abs(vectors[1, name] - vectors[2, name]).max()) for name in todo}
    result = {"max_rows": args.max_rows, "documents": args.docs or "all", "cpus": os.cpu_count(),
              "torch_threads": torch.get_num_threads(),
              "seconds": {f"jobs_{j}": s for j, s in seconds.items()},
              "speedup": round(seconds[1] / seconds[2], 3),
              # each variant's corpus vectors, one way against the other (threads change float rounding only)
              "max_abs_diff": diffs,
              "load_average_before": load_before, "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps(result, indent=2))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
