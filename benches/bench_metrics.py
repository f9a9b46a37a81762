"""Scoring held-out rankings: lrat's metrics (`score_runs`, numpy + scipy) against ranx's `compare`, each in a fresh
process as the pipeline's stages run them (evaluate, ablation and promote each score once), so the times include
imports and, for ranx, the numba compilation of its typed containers. Also checks both give the same numbers.

    .venv/bin/python benches/bench_metrics.py                       # 240 questions x 4 models, as `lrat ablation`
    .venv/bin/python benches/bench_metrics.py --questions 2000 --models 8 --json benches/results/metrics.json

Rankings are synthetic (seeded): 100 documents per question from a 4,000-document corpus, 2-4 evidence pages.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import json, sys, time, warnings
start = time.perf_counter()
case = json.load(open(sys.argv[2]))
qrels, rankings = case["qrels"], case["rankings"]
metrics = ("recall@10", "recall@100", "ndcg@10", "mrr@10")
if sys.argv[1] == "lrat":
    from lrat.evaluation.offline import score_runs
    means, sig = score_runs(qrels, rankings, metrics=metrics)
    p = {n: {m: c["p_value"] for m, c in s.items()} for n, s in sig.items() if isinstance(s, dict)}
else:
    from numba.core.errors import NumbaTypeSafetyWarning
    from ranx import Qrels, Run, compare
    from lrat.evaluation.offline import _p_value, _round, ranked_run
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaTypeSafetyWarning)
        report = compare(Qrels(qrels), [Run(ranked_run(r), name=n) for n, r in rankings.items()], list(metrics),
                         stat_test="student", max_p=0.05, make_comparable=True)
    means = {n: {m: _round(report.results[n][m]) for m in metrics} for n in rankings}
    p = {n: {m: _p_value(report.comparisons[frozenset(("base", n))][m]["p_value"]) for m in metrics}
         for n in rankings if n != "base"}
print(json.dumps({"seconds": time.perf_counter() - start, "means": means, "p": p}))
"""


def make_case(questions: int, models: int, seed: int = 0) -> dict:
    import random

    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(4000)]
    qrels = {f"q{i}": {d: 1 for d in rng.sample(docs, rng.randint(2, 4))} for i in range(questions)}
    rankings = {}
    for j in range(models):
        name = "base" if j == 0 else f"m{j}"
        rankings[name] = {q: list(dict.fromkeys(rng.sample(list(rel), rng.randint(0, len(rel)))
                                                + rng.sample(docs, 100)))[:100] for q, rel in qrels.items()}
        for ranking in rankings[name].values():
            rng.shuffle(ranking)
    return {"qrels": qrels, "rankings": rankings}


def run(way: str, case: Path) -> dict:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, way, str(case)], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=240)
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per way (medians reported)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    load_before = [round(x, 2) for x in os.getloadavg()]
    with tempfile.TemporaryDirectory(prefix="lrat-bench-metrics-") as tmp:
        case = Path(tmp) / "case.json"
        case.write_text(json.dumps(make_case(args.questions, args.models)))
        results: dict[str, list[dict]] = {"ranx": [], "lrat": []}
        for repeat in range(args.repeats):
            for way in results:
                results[way].append(run(way, case))
                print(f"repeat {repeat + 1}: {way:4s} scoring {results[way][-1]['seconds']:6.2f} s in a "
                      f"{results[way][-1]['process_seconds']:6.2f}-s process", flush=True)
    same = all(r["means"] == results["ranx"][0]["means"] and r["p"] == results["ranx"][0]["p"]
               for r in results["lrat"])

    def median(way: str, key: str) -> float:
        values = sorted(r[key] for r in results[way])
        return round(values[len(values) // 2], 3)

    out = {"questions": args.questions, "models": args.models, "repeats": args.repeats,
           "import_and_score_seconds": {w: median(w, "seconds") for w in results},
           "process_seconds": {w: median(w, "process_seconds") for w in results},
           "first_ranx_process_seconds": round(results["ranx"][0]["seconds"], 3),
           "speedup": round(median("ranx", "seconds") / median("lrat", "seconds"), 1),
           "same_numbers": same, "load_average_before": load_before,
           "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps(out, indent=2))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    if not same:
        sys.exit("lrat's numbers differ from ranx's")


if __name__ == "__main__":
    main()
