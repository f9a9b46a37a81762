"""Issue 13 harness: the simulator's calibration targets for a set of params overrides, on base and oracle only.

    PYTHONPATH=src .venv/bin/python benches/calibrate_sim.py --work /tmp/cal -S world.name_rate=0.5 \
        -S agent.max_searches=40 -S agent.patience=8

Builds the world once per distinct `world:` section (the base corpus encoding is cached by text under --cache),
runs the agent with base on the train split (what the pipeline's analysis sees) and with base and oracle on the
test split (same seed), and prints each target of the issue with its range.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ANSWER = re.compile(r"Exact Answer:\s*(.+)")


def override(values: dict[str, Any], items: list[str]) -> dict[str, Any]:
    for item in items:
        key, _, raw = item.partition("=")
        node = values
        *path, last = key.split(".")
        for part in path:
            node = node.setdefault(part, {})
        node[last] = yaml.safe_load(raw)
    return values


def run_stats(folder: Path, evidence: dict[str, set[str]]) -> dict[str, Any]:
    rows = []
    opened = opened_evidence = 0
    for path in folder.glob("run_*.json"):
        run = json.loads(path.read_text())
        answer = None
        searches = browses = 0
        for item in run["result"]:
            if item.get("tool_name") == "search":
                searches += 1
            elif item.get("tool_name") == "get_document":
                browses += 1
                opened += 1
                opened_evidence += json.loads(item["arguments"])["docid"] in evidence[run["query_id"]]
            elif item.get("type") == "output_text":
                found = ANSWER.search(item["output"] or "")
                answer = found.group(1).strip() if found else None
        rows.append({"correct": answer == run["answer"], "searches": searches, "browses": browses})
    good = [r for r in rows if r["correct"]]
    bad = [r for r in rows if not r["correct"]]

    def per(rs: list[dict], key: str) -> float | None:
        return round(statistics.mean(r[key] for r in rs), 2) if rs else None

    def bps(rs: list[dict]) -> float | None:
        s = sum(r["searches"] for r in rs)
        return round(sum(r["browses"] for r in rs) / s, 3) if s else None

    return {"n": len(rows), "success": round(len(good) / len(rows), 4), "searches": per(rows, "searches"),
            "searches_correct": per(good, "searches"), "searches_incorrect": per(bad, "searches"),
            "bps_all": bps(rows), "bps_correct": bps(good), "bps_incorrect": bps(bad),
            "evidence_share_of_browses": round(opened_evidence / opened, 3) if opened else None}


def analyze_runs(world: Path, runs: Path, out: Path) -> dict[str, Any]:
    """The pipeline's own ingest + analyze on the train runs: position bias and reasoning lengths as make run sees
    them."""
    lrat = [sys.executable, "-m", "lrat"]
    files = {"--corpus": "corpus.jsonl", "--queries": "queries.tsv", "--qrels-evidence": "qrel_evidence.txt",
             "--qrels-golds": "qrel_golds.txt", "--ground-truth": "ground_truth.jsonl"}
    subprocess.run([*lrat, "ingest", str(runs), "--out", str(out / "ingested"), "--quiet",
                    *(x for flag, name in files.items() for x in (flag, str(world / name)))],
                   check=True, capture_output=True)
    subprocess.run([*lrat, "analyze", "--trajectories", str(out / "ingested" / "trajectories.jsonl"),
                    "--qrels-evidence", str(world / "qrel_evidence.txt"), "--out", str(out / "reports")],
                   check=True, capture_output=True)
    return json.loads((out / "reports" / "analysis.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/lrat-calibrate"))
    parser.add_argument("--cache", type=Path, default=Path(".cache/embeddings"))
    parser.add_argument("-S", dest="sets", action="append", default=[], help="dotted.key=value override")
    parser.add_argument("--train-limit", type=int, default=400, help="train questions to run (speed)")
    args = parser.parse_args()

    from lrat import _offline

    _offline.apply_offline_defaults()
    from lrat.simulate.pipeline import agent_config, build_world, run_agents

    values = override(yaml.safe_load(args.params.read_text()), args.sets)
    seed, world_section = int(values.get("seed", 13)), values.get("world") or {}
    key = hashlib.sha256(json.dumps([seed, world_section], sort_keys=True).encode()).hexdigest()[:12]
    world = args.work / f"world-{key}"
    stats_file = world / "stats.json"
    if not stats_file.is_file():
        build_world(world, seed, world_section, stats_file, args.cache, progress=False)
    stats = json.loads(stats_file.read_text())
    cfg = agent_config(values.get("agent") or {})
    evidence: dict[str, set[str]] = {}
    for line in (world / "qrel_evidence.txt").read_text().splitlines():
        qid, _, docid, *_ = line.split()
        evidence.setdefault(qid, set()).add(docid)
    out: dict[str, Any] = {"overrides": args.sets, "world": key,
                           "base_recall@10_test": stats["base_retriever"]["test"]["recall@10"]}
    plan = (("train_base", "train", "base", args.train_limit), ("test_base", "test", "base", None),
            ("test_oracle", "test", "oracle", None))
    for name, split, retriever, limit in plan:
        runs = args.work / f"runs-{name}"
        run_agents(world, split, retriever, runs, seed, cfg, None, args.cache, limit, progress=False)
        out[name] = run_stats(runs, evidence)
    behaviour = analyze_runs(world, args.work / "runs-train_base", args.work / "analysis")
    base, oracle, train = out["test_base"], out["test_oracle"], out["train_base"]
    targets = [
        ("base success (test)", base["success"], "0.35-0.65"),
        ("oracle / base success (test)", round(oracle["success"] / base["success"], 3) if base["success"] else None,
         ">= 1.3"),
        ("searches per correct run (train)", train["searches_correct"], "8-16"),
        ("searches incorrect / correct (train)",
         round(train["searches_incorrect"] / train["searches_correct"], 2)
         if train["searches_incorrect"] and train["searches_correct"] else None, ">= 2.0"),
        ("browses/search correct > incorrect (train)", f"{train['bps_correct']} > {train['bps_incorrect']}", "yes"),
        ("browses/search all (train)", train["bps_all"], "0.2-0.35"),
        ("position-bias ratio (train)", behaviour["browse_by_rank"]["position_bias_ratio"], "1.1-1.6"),
        ("reasoning after evidence / other (train)", behaviour["reasoning_length"]["evidence_ratio"], ">= 1.3"),
        ("evidence share of browses (train; label precision)", train["evidence_share_of_browses"], "report"),
        ("base evidence recall@10 (test, offline)", out["base_recall@10_test"], "0.15-0.7"),
    ]
    print(json.dumps(out, indent=1))
    for name, value, target in targets:
        print(f"{name:45} {value!s:>16}   target {target}")


if __name__ == "__main__":
    main()
