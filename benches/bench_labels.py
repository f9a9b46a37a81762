"""Label size and throughput, text rows (`--format lrat`) against compact rows (`--format compact`: docids and the
corpus sha256, texts joined from the corpus at training): file size, mining time, training-data preparation
(`training_rows` + `to_dataset`, the step before the trainer; rows/s counts label rows read) and, with
--train-steps, a short `train()` run end to end (model load, MLflow, the steps, model logging: fixed costs dominate,
and the steps themselves see the same dataset either way, as tests/mining/test_compact_labels.py checks).

    .venv/bin/python benches/bench_labels.py                      # 5,000 trajectories built from data/ingested
    .venv/bin/python benches/bench_labels.py --n 20000            # the issue's 20k
    .venv/bin/python benches/bench_labels.py --n 1000 --train-steps 4   # + a few steps of the packaged MiniLM

The input repeats the simulated trajectories of `make run` (data/ingested/trajectories.jsonl, corpus
data/world/corpus.jsonl) under new trajectory ids; the judge is the offline heuristic (no LLM, no cache). Every
measurement runs in a fresh process (pinned to one core when taskset exists) and reports its peak memory; all
files go to a temporary folder (data/labels and metrics/ are not touched).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from bench_mine import build  # the same repeated-trajectories input
from pinned import run_pinned


def _peak_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux: KiB


def measure(stage: str, fmt: str, trajectories: Path, corpus: Path, labels: Path, steps: int) -> dict:
    """One stage in this process; imports happen before the clock starts."""
    if stage == "mine":
        from lrat.mining.options import resolve_options
        from lrat.mining.run import mine

        start = time.perf_counter()
        opts = resolve_options("lrat", {"compact_above_mb": None}, {"judge": "heuristic", "format": fmt})
        summary = mine(trajectories, corpus, labels, opts, progress=False)
        seconds = time.perf_counter() - start
        return {"stage": stage, "format": fmt, "trajectories": summary["trajectories"]["read"],
                "rows": summary["rows"], "seconds": round(seconds, 2), "rows_per_s": round(summary["rows"] / seconds),
                "mb": round(labels.stat().st_size / 1e6, 2), "peak_rss_mb": _peak_mb()}
    if stage == "prepare":
        from lrat.training.data import DataConfig, to_dataset, training_rows

        start = time.perf_counter()
        rows, counts = training_rows(labels, DataConfig(), corpus=corpus)  # train: defaults, every satisfied row
        joined = time.perf_counter()
        to_dataset(rows)
        seconds = time.perf_counter() - start
        return {"stage": stage, "format": fmt, "labels": counts["labels"], "rows": len(rows),
                "seconds": round(seconds, 2), "training_rows_s": round(joined - start, 2),
                "to_dataset_s": round(seconds - (joined - start), 2), "rows_per_s": round(counts["labels"] / seconds),
                "peak_rss_mb": _peak_mb()}
    import tempfile as tmp

    from lrat.training.train import train, train_config

    start = time.perf_counter()

    with tmp.TemporaryDirectory() as work:  # its own MLflow store: nothing lands in the repository's
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work}/mlflow.db"
        os.chdir(work)
        cfg = train_config({"base_model": "base", "batch_size": 16, "max_seq_length": 96, "n_negatives": 1,
                            "max_rows": 16 * steps, "save_steps": 10_000, "experiment": "bench-labels"})
        summary = train(labels, Path(work) / "model", cfg, progress=False, corpus=corpus)
    seconds = time.perf_counter() - start
    return {"stage": stage, "format": fmt, "rows": summary["rows"]["rows"], "steps": summary["steps"],
            "seconds": round(seconds, 2), "train_seconds": summary["seconds"],
            "rows_per_s": round(summary["rows"]["rows"] / seconds, 2), "peak_rss_mb": _peak_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5_000, help="trajectories to mine")
    parser.add_argument("--trajectories", type=Path, default=Path("data/ingested/trajectories.jsonl"))
    parser.add_argument("--corpus", type=Path, default=Path("data/world/corpus.jsonl"))
    parser.add_argument("--train-steps", type=int, default=0, help="also train this many steps (MiniLM) per format")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        stage, fmt, trajectories, corpus, labels, steps = args.child
        print(json.dumps(measure(stage, fmt, Path(trajectories), Path(corpus).resolve(), Path(labels),
                                 int(steps))))
        return
    results = []
    corpus = args.corpus.resolve()
    with tempfile.TemporaryDirectory(prefix="bench-labels-") as tmp:
        src = Path(tmp) / "trajectories.jsonl"
        build(args.trajectories, args.n, src)
        stages = ["mine", "prepare"] + (["train"] if args.train_steps else [])
        for fmt in ("lrat", "compact"):
            labels = Path(tmp) / f"labels_{fmt}.jsonl"
            for stage in stages:
                row = run_pinned(__file__, stage, fmt, str(src), str(corpus), str(labels), str(args.train_steps))
                results.append(row)
                print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    mined = {r["format"]: r for r in results if r["stage"] == "mine"}
    summary = {"trajectories": args.n, "corpus_mb": round(corpus.stat().st_size / 1e6, 2),
               "mb_per_1k_trajectories": {f: round(r["mb"] / args.n * 1000, 2) for f, r in mined.items()},
               "size_ratio": round(mined["lrat"]["mb"] / mined["compact"]["mb"], 1), "results": results}
    print(f"per 1k trajectories: text {summary['mb_per_1k_trajectories']['lrat']} MB, compact "
          f"{summary['mb_per_1k_trajectories']['compact']} MB ({summary['size_ratio']}x smaller); corpus "
          f"{summary['corpus_mb']} MB")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
