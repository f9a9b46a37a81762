"""Ingestion throughput and peak memory, against the natural baseline (read + ``json.loads`` of the same bytes).

    .venv/bin/python benches/bench_ingest.py                 # 2,000 run files + 10k/50k-line JSONL
    .venv/bin/python benches/bench_ingest.py --files 300 --lines 2000 5000   # a quick look

Each measurement runs in a fresh subprocess pinned to one core, so peak RSS is that run's own.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("island ferry botanist saxifrage harbour clock chess tournament archipelago institute prize field "
         "record alpine plant passenger between twice daily founded research ecology winner annual held").split()


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def make_run(rng: random.Random, qid: int) -> dict:
    """An LRAT-fork BC+ run of typical size (20-60 KB): DocID result lists, repr browse outputs, reasoning."""
    result, shown = [], []
    for _ in range(rng.randint(4, 12)):
        thought = _text(rng, rng.randint(20, 160))
        result.append({"type": "reasoning", "tool_name": None, "arguments": None, "output": thought})
        docids = [str(rng.randint(1, 100_000)) for _ in range(10)]
        shown += docids
        body = "\n\n".join(f"DocID:{d}\n[{_text(rng, 3)}]\n{_text(rng, 3)}\n{_text(rng, 45)}" for d in docids)
        q = _text(rng, 6)
        result.append({"type": "tool_call", "tool_name": "search", "arguments": json.dumps({"query": [q]}),
                       "output": f"A search for '{q}' found 10 results:\n\n## Web Results\n{body}"})
        if rng.random() < 0.3:
            d = rng.choice(docids)
            result.append({"type": "tool_call", "tool_name": "get_document", "arguments": json.dumps({"docid": d}),
                           "output": f"Document {d}:\n" + repr({"docid": d, "text": _text(rng, 300)})})
    result.append({"type": "reasoning", "tool_name": None, "arguments": None, "output": _text(rng, 80)})
    result.append({"type": "output_text", "tool_name": None, "arguments": None, "output": "Exact Answer: x"})
    return {"metadata": {"model": "bench", "searcher_type": "bm25", "k": 10, "snippet_max_tokens": 64},
            "query_id": str(qid), "tool_call_counts": {}, "status": "completed",
            "retrieved_docids": sorted(set(shown)), "result": result}


def generate(root: Path, files: int, lines: list[int], seed: int = 0) -> None:
    rng = random.Random(seed)
    pool = [make_run(rng, i) for i in range(200)]
    (root / "files").mkdir(parents=True)
    for i in range(files):
        run = dict(pool[i % len(pool)], query_id=str(i))
        (root / "files" / f"run_{i:06d}.json").write_text(json.dumps(run, indent=1))
    for n in lines:
        with (root / f"runs_{n}.jsonl").open("w") as fh:
            for i in range(n):
                fh.write(json.dumps(dict(pool[i % len(pool)], query_id=str(i))) + "\n")


def _measure(kind: str, path: Path, out: Path) -> dict:
    """Runs in the child: one measurement, printed as JSON."""
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    start = time.perf_counter()
    if kind == "baseline":
        n = 0
        files = sorted(path.rglob("*.json")) if path.is_dir() else [path]
        for f in files:
            if f.suffix == ".jsonl":
                with f.open("rb") as fh:
                    for line in fh:
                        json.loads(line)
                        n += 1
            else:
                json.loads(f.read_bytes())
                n += 1
    else:
        from lrat.ingest.runner import ingest

        n = ingest([path], out, progress=False)["trajectories"]
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"kind": kind, "input": path.name, "trajectories": n, "mb": size / 1e6, "seconds": seconds,
            "mb_per_s": size / 1e6 / seconds, "traj_per_s": n / seconds, "peak_rss_mb": rss}


def run_child(kind: str, path: Path, out: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, str(path), str(out)]
    pin = ["taskset", "-c", "0"] if sys.platform.startswith("linux") and os.path.exists("/usr/bin/taskset") else []
    done = subprocess.run(pin + cmd, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=2000, help="BC+ run files (one trajectory each)")
    parser.add_argument("--lines", type=int, nargs="*", default=[10_000, 50_000], help="JSONL sizes (trajectories)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, path, out = args.child
        print(json.dumps(_measure(kind, Path(path), Path(out))))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate(root, args.files, args.lines)
        targets = [root / "files"] + [root / f"runs_{n}.jsonl" for n in args.lines]
        for target in targets:
            for kind in ("baseline", "lrat"):
                row = run_child(kind, target, root / f"out_{target.stem}_{kind}")
                rows.append(row)
                print(f"{row['input']:>18} {kind:>8}: {row['trajectories']:>7} traj  {row['mb']:8.1f} MB  "
                      f"{row['seconds']:7.2f} s  {row['mb_per_s']:6.1f} MB/s  {row['traj_per_s']:8.0f} traj/s  "
                      f"peak RSS {row['peak_rss_mb']:6.0f} MB", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
