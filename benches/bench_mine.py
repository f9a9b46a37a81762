"""Mining throughput (heuristic judge, lrat and official presets) on one core, against the natural baseline
(reading the same trajectories file and ``json.loads``-ing every line).

    .venv/bin/python benches/bench_mine.py                 # 20,000 trajectories built from data/ingested
    .venv/bin/python benches/bench_mine.py --n 5000        # a quick look

The input repeats the simulated trajectories of `make run` (data/ingested/trajectories.jsonl, corpus
data/world/corpus.jsonl) under new trajectory ids. Each measurement runs in a fresh process pinned to one core.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from pinned import run_pinned


def build(src: Path, n: int, dst: Path) -> None:
    lines = [line for line in src.read_text(encoding="utf-8").splitlines() if line.strip()]
    with dst.open("w", encoding="utf-8") as fh:
        for i in range(n):
            record = json.loads(lines[i % len(lines)])
            record["trajectory_id"] = f"{record['trajectory_id']}#{i}"
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def measure(kind: str, trajectories: Path, corpus: Path, out: Path) -> dict:
    start = time.perf_counter()
    if kind == "baseline":
        n = 0
        with trajectories.open(encoding="utf-8") as fh:
            for line in fh:
                json.loads(line)
                n += 1
        rows = 0
    else:
        from lrat.mining.options import resolve_options
        from lrat.mining.run import mine

        opts = resolve_options(kind, {}, {"judge": "heuristic"})
        summary = mine(trajectories, corpus, out, opts, progress=False)
        n, rows = summary["trajectories"]["read"], summary["rows"]
    seconds = time.perf_counter() - start
    return {"kind": kind, "trajectories": n, "rows": rows, "seconds": round(seconds, 2),
            "traj_per_s": round(n / seconds, 1), "mb_out": round(out.stat().st_size / 1e6, 1) if out.exists() else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="trajectories to mine")
    parser.add_argument("--trajectories", type=Path, default=Path("data/ingested/trajectories.jsonl"))
    parser.add_argument("--corpus", type=Path, default=Path("data/world/corpus.jsonl"))
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, trajectories, corpus, out = args.child
        print(json.dumps(measure(kind, Path(trajectories), Path(corpus), Path(out))))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "trajectories.jsonl"
        build(args.trajectories, args.n, src)
        for kind in ("baseline", "lrat", "official"):
            row = run_pinned(__file__, kind, str(src), str(args.corpus), str(Path(tmp) / f"rows_{kind}.jsonl"))
            rows.append(row)
            print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
