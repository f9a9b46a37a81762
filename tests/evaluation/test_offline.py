"""Offline evaluation: the JSON contract, metrics checked by hand against the rankings, the significance test."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from lrat.evaluation.offline import (
    METRICS,
    evaluate_offline,
    parse_models,
    ranked_run,
    score_runs,
    split_questions,
)
from lrat.simulate.export import write_world
from lrat.simulate.store import save_state
from lrat.simulate.world import World, generate_world


@dataclass
class Setup:
    world_dir: Path
    world: World
    cache: Path
    small: Path  # a real model folder that ranks differently (and worse) than base

    @property
    def models(self) -> dict[str, str]:
        return {"base": "base", "small": str(self.small)}


_SETUPS: dict[Path, Setup] = {}


def build_setup(root: Path) -> Setup:
    """A 300-page world, the packaged MiniLM and a 2-layer, 64-token cut of it (fast to encode, much worse), one
    embedding cache; built once per test session and shared by both evaluation test modules."""
    if root in _SETUPS:
        return _SETUPS[root]
    import torch
    from sentence_transformers import SentenceTransformer

    from lrat.retrieval.encoder import model_path

    world = generate_world(5, n_docs=300, n_questions=60)
    write_world(world, root / "world")
    save_state(world, root / "world")
    model = SentenceTransformer(model_path("base"), device="cpu")
    bert = model[0].auto_model
    bert.encoder.layer = torch.nn.ModuleList(list(bert.encoder.layer)[:2])
    bert.config.num_hidden_layers = 2
    model.max_seq_length = 64  # pages cut short: cheaper still, and worse
    model.save(str(root / "small"))
    _SETUPS[root] = Setup(root / "world", world, root / "cache", root / "small")
    return _SETUPS[root]


@pytest.fixture(scope="module")
def result(setup: Setup) -> dict:
    return evaluate_offline(setup.models, setup.world_dir, "test", setup.cache, progress=False)


# hand-computed metrics ----------------------------------------------------------------------------------------


def _recall(ranked: list[str], evidence: set[str], k: int) -> float:
    return len(set(ranked[:k]) & evidence) / len(evidence)


def _mrr(ranked: list[str], evidence: set[str], k: int = 10) -> float:
    return next((1 / rank for rank, d in enumerate(ranked[:k], 1) if d in evidence), 0.0)


def _ndcg(ranked: list[str], evidence: set[str], k: int = 10) -> float:
    dcg = sum(1 / math.log2(rank + 1) for rank, d in enumerate(ranked[:k], 1) if d in evidence)
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(len(evidence), k) + 1))
    return dcg / ideal


def _by_hand(ranking: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    rows = [(ranking[q], set(qrels[q])) for q in qrels]
    return {"recall@10": sum(_recall(r, e, 10) for r, e in rows) / len(rows),
            "recall@100": sum(_recall(r, e, 100) for r, e in rows) / len(rows),
            "ndcg@10": sum(_ndcg(r, e) for r, e in rows) / len(rows),
            "mrr@10": sum(_mrr(r, e) for r, e in rows) / len(rows)}


# tests --------------------------------------------------------------------------------------------------------


def test_contract_keys(result: dict, setup: Setup) -> None:
    assert {"split", "n_queries", "models", "significance"} <= set(result)
    assert result["split"] == "test"
    test_qids = [q.qid for q in setup.world.questions if q.split == "test"]
    assert result["n_queries"] == len(test_qids) > 0
    assert list(result["models"]) == ["base", "small"]
    for values in result["models"].values():
        assert list(values) == list(METRICS) == ["recall@10", "recall@100", "ndcg@10", "mrr@10"]
        assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in values.values())
    sig = result["significance"]
    assert sig["baseline"] == "base" and sig["alpha"] == 0.05 and "t-test" in sig["test"]
    assert "base" not in sig
    assert set(sig["small"]) == set(METRICS)
    for cell in sig["small"].values():
        assert set(cell) == {"p_value", "significant"}
        assert isinstance(cell["significant"], bool) and 0.0 <= cell["p_value"] <= 1.0
        assert cell["significant"] == (cell["p_value"] <= 0.05)
    json.dumps(result)  # plain JSON types only (no numpy scalars)


def test_metrics_match_hand_computation_over_the_real_rankings(result: dict, setup: Setup) -> None:
    from lrat.retrieval.local import LocalRetriever

    queries, qrels = split_questions(setup.world_dir, "test")
    retriever = LocalRetriever.build("base", setup.world_dir / "corpus.jsonl", setup.cache, progress=False)
    hits = retriever.search_batch(list(queries.values()), 100)
    ranking = {q: [h.docid for h in row] for q, row in zip(queries, hits, strict=True)}
    assert all(len(r) == 100 for r in ranking.values())
    expected = _by_hand(ranking, qrels)
    for metric, value in expected.items():
        assert result["models"]["base"][metric] == pytest.approx(value, abs=1e-4), metric


def test_models_differ_and_the_weaker_one_is_significantly_worse(result: dict) -> None:
    base, small = result["models"]["base"], result["models"]["small"]
    assert small["recall@10"] < base["recall@10"] - 0.2
    assert result["significance"]["small"]["recall@10"]["significant"] is True


def test_base_against_itself_is_not_significant(setup: Setup) -> None:
    same = evaluate_offline({"base": "base", "again": "base"}, setup.world_dir, "test", setup.cache, progress=False)
    assert same["models"]["again"] == same["models"]["base"]
    for cell in same["significance"]["again"].values():
        assert cell == {"p_value": 1.0, "significant": False}


def test_per_query_metrics_by_hand_on_a_tiny_run() -> None:
    qrels = {"q1": {"a": 1, "b": 1}, "q2": {"c": 1}}
    rankings = {"base": {"q1": ["x", "a", "y", "b"], "q2": ["x", "y", "c"]}}
    means, sig = score_runs(qrels, rankings)
    assert means["base"]["recall@10"] == 1.0
    assert means["base"]["mrr@10"] == pytest.approx(round((1 / 2 + 1 / 3) / 2, 4))
    ndcg_q1 = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    ndcg_q2 = (1 / math.log2(4)) / 1
    assert means["base"]["ndcg@10"] == pytest.approx(round((ndcg_q1 + ndcg_q2) / 2, 4))
    assert sig == {"test": sig["test"], "alpha": 0.05, "baseline": "base"}


def test_rank_order_is_kept_not_resorted_by_docid() -> None:
    # equal retriever scores must not be re-broken by ranx: the stored scores encode rank only
    run = ranked_run({"q": ["z", "a", "m"]})
    assert sorted(run["q"], key=run["q"].get, reverse=True) == ["z", "a", "m"]
    means, _ = score_runs({"q": {"z": 1}}, {"base": {"q": ["z", "a", "m"]}})
    assert means["base"]["mrr@10"] == 1.0


def test_a_perfect_run_is_significantly_better_than_a_poor_one() -> None:
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(30)}
    perfect = {q: [d for d in rel] + ["noise"] for q, rel in qrels.items()}
    poor = {q: [f"x{j}" for j in range(20)] + list(rel) if int(q[1:]) % 3 else list(rel)
            for q, rel in qrels.items()}
    means, sig = score_runs(qrels, {"base": poor, "oracle": perfect})
    assert means["oracle"]["recall@10"] == 1.0 and means["base"]["recall@10"] == pytest.approx(0.3333, abs=1e-4)
    assert means["base"]["recall@100"] == 1.0
    assert sig["oracle"]["recall@10"]["significant"] is True and sig["oracle"]["recall@10"]["p_value"] < 0.001
    assert sig["oracle"]["recall@100"] == {"p_value": 1.0, "significant": False}  # same everywhere: no test


def test_baseline_defaults_to_first_model_without_base() -> None:
    qrels = {"q": {"a": 1}, "r": {"b": 1}}
    _, sig = score_runs(qrels, {"one": {"q": ["a"], "r": ["b"]}, "two": {"q": ["b"], "r": ["b"]}})
    assert sig["baseline"] == "one" and set(sig) == {"test", "alpha", "baseline", "two"}


def test_model_pairs_are_parsed_and_checked(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    assert parse_models(["base=base", f"lrat={tmp_path / 'm'}", "reg=models:/lrat@champion"]) == {
        "base": "base", "lrat": str(tmp_path / "m"), "reg": "models:/lrat@champion"}
    assert parse_models(["base", str(tmp_path / "m")]) == {"base": "base", "m": str(tmp_path / "m")}
    with pytest.raises(FileNotFoundError, match="missing"):
        parse_models([f"lrat={tmp_path / 'missing'}"])
    for bad in (["a=base", "a=base"], ["=base"], ["test=base"], ["a/b=base"]):
        with pytest.raises(ValueError):
            parse_models(bad)


def test_unknown_split_and_missing_files_are_clear_errors(setup: Setup, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown split 'nope'"):
        evaluate_offline({"base": "base"}, setup.world_dir, "nope", setup.cache, progress=False)
    with pytest.raises(FileNotFoundError, match="qrel_evidence.txt"):
        (tmp_path / "corpus.jsonl").write_text("")
        evaluate_offline({"base": "base"}, tmp_path, "test", None, progress=False)
