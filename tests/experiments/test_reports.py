"""The reports' JSON shapes and the figures, with training and retrieval replaced by stand-ins (real mining,
real scoring): what each command writes, whatever the models score. The real thing runs in test_end_to_end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import lrat.evaluation.agent as agent_module
import lrat.evaluation.offline as offline_module
import lrat.experiments.scaling as scaling_module
import lrat.experiments.topk as topk_module
import lrat.training.train as train_module
from lrat.experiments.common import Bench, relative_gain
from lrat.experiments.plots import draw_scaling, draw_topk
from lrat.experiments.scaling import ScalingConfig, run_scaling
from lrat.experiments.topk import TopkConfig, run_topk
from lrat.settings import settings_from
from lrat.training.data import training_rows

from .conftest import Sim

PNG = b"\x89PNG\r\n\x1a\n"
AGENT_KEYS = ["success", "evidence_recall", "avg_search_calls", "avg_browse_calls"]


def _scores(name: str) -> dict[str, float]:
    """Stand-in scores that differ per model (so a mix-up between points shows)."""
    x = (sum(map(ord, name)) % 17) / 40
    return {"recall@10": 0.2 + x, "recall@100": 0.5 + x, "ndcg@10": 0.1 + x, "mrr@10": 0.3 + x}


@pytest.fixture
def stand_ins(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Replace training, evaluation and MLflow logging; record what they were asked."""
    calls: dict[str, Any] = {"train": [], "offline": [], "agents": []}

    def train(labels: Path, out: Path, cfg: Any, **kw: Any) -> dict[str, Any]:
        rows, counts = training_rows(labels, cfg)
        out.mkdir(parents=True, exist_ok=True)
        calls["train"].append({"labels": labels, "cfg": cfg, "tags": kw.get("tags"), "rows": len(rows)})
        return {"run_id": f"run-{len(calls['train'])}", "rows": counts, "steps": 1, "seconds": 0.0}

    def evaluate_offline(models: dict[str, str], world: Path, split: str, *a: Any, **kw: Any) -> dict[str, Any]:
        calls["offline"].append(dict(models))
        queries, _ = offline_module.split_questions(world, split)
        return {"split": split, "n_queries": len(queries), "depth": 100,
                "models": {n: _scores(n) for n in models},
                "significance": {"baseline": "base", **{n: {m: {"p_value": 0.01, "significant": True}
                                                            for m in _scores(n)} for n in models if n != "base"}}}

    def evaluate_agents(models: dict[str, str], world: Path, split: str, seed: int, cfg: Any, *a: Any, **kw: Any
                        ) -> dict[str, Any]:
        calls["agents"].append({"models": dict(models), "seed": seed, "k": cfg.k})
        queries, _ = offline_module.split_questions(world, split)
        return {"split": split, "n_questions": len(queries), "seed": seed,
                "models": {n: {"success": _scores(n)["recall@10"] + cfg.k / 1000, "evidence_recall": 0.5,
                               "avg_search_calls": 10.0 + ("champion" in n), "avg_browse_calls": 3.0}
                           for n in models}}

    monkeypatch.setattr(train_module, "train", train)
    monkeypatch.setattr(offline_module, "evaluate_offline", evaluate_offline)
    monkeypatch.setattr(agent_module, "evaluate_agents", evaluate_agents)
    monkeypatch.setattr(scaling_module, "_log_runs", lambda report, experiment: {p["name"]: "r" for p in
                                                                                 report["points"]})
    monkeypatch.setattr(topk_module, "_log_runs", lambda report, experiment: {str(k): "r" for k in report["ks"]})
    return calls


def test_scaling_report(sim: Sim, stand_ins: dict[str, Any], tmp_path: Path):
    # the pipeline's cap must not reach the experiment
    cfg = settings_from({"train": {"max_rows": 7, "experiment": "lrat"}}).train
    bench = Bench(world=sim.world, seed=3, cache_dir=None)
    mine = settings_from({"mine": {"judge": "heuristic"}}).mine
    report = run_scaling(sim.trajectories, sim.world / "corpus.jsonl", bench, cfg, mine,
                         ScalingConfig(fractions=(1.0, 0.25, 0.5), experiment="x-scaling"), tmp_path / "models",
                         tmp_path / "scaling.json", tmp_path / "scaling.png", progress=False)
    assert json.loads((tmp_path / "scaling.json").read_text()) == report
    assert (tmp_path / "scaling.png").read_bytes()[:8] == PNG
    names = [p["name"] for p in report["points"]]
    assert names == ["base", "frac-0.25", "frac-0.5", "frac-1"]
    base, *trained = report["points"]
    assert base["trajectories"] == base["train_rows"] == 0 and base["model"] == "base"
    counts = [p["trajectories"] for p in trained]
    assert counts == sorted(counts) and counts[-1] == sim.n_train == report["trajectories"]["eligible"]
    assert [p["label_rows"] for p in trained] == sorted(p["label_rows"] for p in trained)
    ids = [set((tmp_path / "models" / n / "trajectory_ids.txt").read_text().split()) for n in names[1:]]
    assert ids[0] < ids[1] < ids[2] and [len(s) for s in ids] == counts  # nested subsets
    # training: the experiment's row budget (all rows) and MLflow experiment, one run per share
    assert [c["cfg"].max_rows for c in stand_ins["train"]] == [None] * 3
    assert {c["cfg"].experiment for c in stand_ins["train"]} == {"x-scaling"}
    assert [c["tags"]["scaling.fraction"] for c in stand_ins["train"]] == ["0.25", "0.5", "1"]
    assert [p["train_rows"] for p in trained] == [c["rows"] for c in stand_ins["train"]]
    assert report["train"]["max_rows"] is None and "all rows" in report["train"]["row_budget"]
    # every model scored once, together, on the same questions; agent with the same seed
    assert stand_ins["offline"] == [{"base": "base", **{p["name"]: p["model"] for p in trained}}]
    assert stand_ins["agents"][0]["seed"] == 3 and stand_ins["agents"][0]["models"] == stand_ins["offline"][0]
    for point in report["points"]:
        assert point["offline"] == _scores(point["name"]) and list(point["agent"]) == AGENT_KEYS
    for point in trained:
        assert point["gain_vs_base"]["recall@10"] == relative_gain(point["offline"]["recall@10"],
                                                                   base["offline"]["recall@10"])
        assert point["p_value_vs_base"]["recall@10"] == 0.01
    assert report["agent"] == {"evaluated": True, "skipped": None, "seed": 3, "k": 10,
                               "n_questions": report["n_queries"]}
    assert report["n_queries"] > 0 and len(report["questions_sha256"]) == 64 and "30K" in report["paper"]


def test_scaling_on_a_real_benchmark_reports_the_agent_as_not_available(sim: Sim, stand_ins: dict[str, Any],
                                                                         tmp_path: Path):
    report = run_scaling(sim.trajectories, sim.benchmark / "corpus.jsonl", Bench(world=sim.benchmark, cache_dir=None),
                         settings_from({}).train, settings_from({"mine": {"judge": "heuristic"}}).mine,
                         ScalingConfig(fractions=(0.5,), max_rows=5),
                         tmp_path / "models", tmp_path / "scaling.json", tmp_path / "scaling.png", progress=False)
    assert stand_ins["agents"] == []
    assert report["agent"]["evaluated"] is False and "simulation.json" in report["agent"]["skipped"]
    assert all(p["agent"] is None and p["offline"] for p in report["points"])
    assert report["points"][1]["gain_vs_base"]["success"] is None
    assert [c["cfg"].max_rows for c in stand_ins["train"]] == [5] and "at most 5" in report["train"]["row_budget"]
    assert (tmp_path / "scaling.png").read_bytes()[:8] == PNG


def test_topk_report_in_both_modes(sim: Sim, stand_ins: dict[str, Any], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch):
    """Offline recall@k from stand-in rankings (champion: evidence first; base: corpus order), real scoring."""
    _, qrels = offline_module.split_questions(sim.world, "test")
    docids = [json.loads(line)["docid"] for line in (sim.world / "corpus.jsonl").read_text().splitlines()]
    asked: list[tuple[str, int]] = []
    good = tmp_path / "good"  # a model folder, as far as the spec check goes
    good.mkdir()

    def rank_questions(spec: str, world: Path, queries: dict[str, str], *a: Any, depth: int = 100, **kw: Any
                       ) -> dict[str, list[str]]:
        asked.append((spec, depth))
        first = (lambda q: list(qrels[q])) if spec == str(good) else (lambda q: [])
        return {q: (first(q) + [d for d in docids if d not in first(q)])[:depth] for q in queries}

    monkeypatch.setattr(offline_module, "rank_questions", rank_questions)
    for world, mode in ((sim.world, "agent"), (sim.benchmark, "offline")):
        out = tmp_path / mode
        report = run_topk("base", str(good), Bench(world=world, seed=5, cache_dir=None), TopkConfig(ks=(20, 5, 200)),
                          out / "topk.json", out / "topk.png", progress=False)
        assert json.loads((out / "topk.json").read_text()) == report and (out / "topk.png").read_bytes()[:8] == PNG
        assert report["mode"] == mode and report["ks"] == [5, 20, 200] == [r["k"] for r in report["results"]]
        assert report["models"] == {"base": {"spec": "base"}, "champion": {"spec": str(good)}}
        for r in report["results"]:
            off = r["offline"]
            assert off["metric"] == f"recall@{r['k']}" and off["champion"] == 1.0 > off["base"]
            assert off["gain"] == relative_gain(off["champion"], off["base"])
        if mode == "agent":
            assert report["agent_skipped"] is None and report["gain_holds"]["agent_success"] in (True, False)
            for r in report["results"]:
                assert list(r["agent"]) == ["n_questions", "base", "champion", "gain"]
                assert r["agent"]["n_questions"] == report["n_questions"]
                assert r["agent"]["gain"]["success"] == relative_gain(r["agent"]["champion"]["success"],
                                                                      r["agent"]["base"]["success"])
        else:
            assert all(r["agent"] is None for r in report["results"])
            assert "simulation.json" in report["agent_skipped"] and "agent_success" not in report["gain_holds"]
    # the agent ran at every k with the same seed, both models each time; rankings went deep enough for k = 200
    assert [(c["k"], c["seed"], sorted(c["models"])) for c in stand_ins["agents"]] == [
        (k, 5, ["base", "champion"]) for k in (5, 20, 200)]
    assert {depth for _, depth in asked} == {200}


def test_the_figures_say_when_the_agent_is_not_available(tmp_path: Path):
    scores = {"recall@10": 0.3, "recall@100": 0.5, "ndcg@10": 0.2, "mrr@10": 0.4}
    points = [{"name": n, "trajectories": t, "train_rows": 10 * t, "offline": scores, "agent": None}
              for n, t in (("base", 0), ("frac-0.5", 50), ("frac-1", 100))]
    draw_scaling({"points": points, "agent": {"evaluated": False, "skipped": "no simulator"}, "n_queries": 3,
                  "split": "test", "train": {"max_rows": None}, "paper": "p"}, tmp_path / "s.png")
    results = [{"k": k, "offline": {"base": 0.2, "champion": 0.3, "gain": 0.5}, "agent": None} for k in (5, 10)]
    draw_topk({"results": results, "mode": "offline", "models": {"champion": {"spec": "x"}}, "n_questions": 3,
               "split": "test", "seed": 1, "paper": "p"}, tmp_path / "t.png")
    assert (tmp_path / "s.png").read_bytes()[:8] == PNG == (tmp_path / "t.png").read_bytes()[:8]
