"""Offline evaluation: the JSON contract, metrics checked by hand against the rankings, the significance test."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from lrat.evaluation.offline import (
    DEPTH,
    GOLD,
    METRICS,
    evaluate_offline,
    gold_questions,
    parse_models,
    rank_questions,
    ranked_run,
    score_runs,
    search_questions,
    split_questions,
    without_gold,
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
    return {**{f"recall@{k}": sum(_recall(r, e, k) for r, e in rows) / len(rows) for k in (5, 10, 100, 1000)},
            "ndcg@10": sum(_ndcg(r, e) for r, e in rows) / len(rows),
            "mrr@10": sum(_mrr(r, e) for r, e in rows) / len(rows)}


# tests --------------------------------------------------------------------------------------------------------


def test_contract_keys(result: dict, setup: Setup) -> None:
    assert list(result) == ["split", "n_queries", "n_queries_gold", "depth", "models", "significance"]
    assert result["split"] == "test"
    test_qids = [q.qid for q in setup.world.questions if q.split == "test"]
    assert result["n_queries"] == len(test_qids) > 0
    assert result["n_queries_gold"] == sum(1 for q in setup.world.questions if q.split == "test" and q.golds) > 0
    assert result["depth"] == min(DEPTH, len(setup.world.docs)) == 300  # the whole of a small corpus
    assert list(result["models"]) == ["base", "small"]
    expected = ["recall@5", "recall@10", "recall@100", "recall@1000", "ndcg@10", "mrr@10"]
    for values in result["models"].values():
        assert list(values) == [*METRICS, GOLD] and list(METRICS) == expected
        assert list(values[GOLD]) == list(METRICS)
        for scores in (without_gold(values), values[GOLD]):
            assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in scores.values())
    sig = result["significance"]
    assert sig["baseline"] == "base" and sig["alpha"] == 0.05 and "t-test" in sig["test"]
    assert "base" not in sig
    assert list(sig["small"]) == [*METRICS, GOLD] and list(sig["small"][GOLD]) == list(METRICS)
    for cell in [*without_gold(sig["small"]).values(), *sig["small"][GOLD].values()]:
        assert set(cell) == {"p_value", "significant"}
        assert isinstance(cell["significant"], bool) and 0.0 <= cell["p_value"] <= 1.0
        assert cell["significant"] == (cell["p_value"] <= 0.05)
    json.dumps(result)  # plain JSON types only (no numpy scalars)


def test_no_gold_rows_without_gold_qrels(setup: Setup, tmp_path: Path) -> None:
    import shutil

    bare = tmp_path / "world"
    shutil.copytree(setup.world_dir, bare, ignore=shutil.ignore_patterns("qrel_golds.txt"))
    result = evaluate_offline({"base": "base"}, bare, "test", setup.cache, progress=False)
    assert "n_queries_gold" not in result and GOLD not in result["models"]["base"]
    assert list(result["models"]["base"]) == list(METRICS)
    # gold qrels of another benchmark: a clear error, not silently empty rows
    (bare / "qrel_golds.txt").write_text("other-1 0 doc-1 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="gold qrels for another benchmark"):
        evaluate_offline({"base": "base"}, bare, "test", setup.cache, progress=False)


def test_metrics_match_hand_computation_over_the_real_rankings(result: dict, setup: Setup) -> None:
    from lrat.retrieval.local import LocalRetriever

    queries, qrels = split_questions(setup.world_dir, "test")
    golds, gold_qrels = gold_questions(setup.world_dir, "test")
    texts = {**queries, **golds}
    retriever = LocalRetriever.build("base", setup.world_dir / "corpus.jsonl", setup.cache, progress=False)
    hits = retriever.search_batch(list(texts.values()), 1000)
    ranking = {q: [h.docid for h in row] for q, row in zip(texts, hits, strict=True)}
    assert all(len(r) == 300 for r in ranking.values())  # the whole corpus
    for scores, relevant in ((without_gold(result["models"]["base"]), qrels),
                             (result["models"]["base"][GOLD], gold_qrels)):
        expected = _by_hand(ranking, relevant)
        assert list(expected) == list(scores)
        for metric, value in expected.items():
            assert scores[metric] == pytest.approx(value, abs=1e-4), metric


def test_ranking_deeper_keeps_the_top_100(setup: Setup) -> None:
    """recall@10/100, nDCG@10 and MRR@10 read the first 100 docids of the same order: ranking 1000 deep instead
    of 100 changes neither those docids nor their scores (ties still break by corpus order)."""
    queries, _ = split_questions(setup.world_dir, "test")
    for spec in setup.models.values():
        shallow = search_questions(spec, setup.world_dir, queries, setup.cache, progress=False, depth=100)
        deep = search_questions(spec, setup.world_dir, queries, setup.cache, progress=False, depth=DEPTH)
        assert all(len(shallow[q]) == 100 and len(deep[q]) == 300 for q in queries)
        assert {q: deep[q][:100] for q in queries} == shallow
        assert rank_questions(spec, setup.world_dir, queries, setup.cache, progress=False, depth=100) == {
            q: [h.docid for h in row] for q, row in shallow.items()}
        _, qrels = split_questions(setup.world_dir, "test")
        old = ("recall@10", "recall@100", "ndcg@10", "mrr@10")
        at_100, at_1000 = ({q: [h.docid for h in row] for q, row in rows.items()} for rows in (shallow, deep))
        assert score_runs(qrels, {"m": at_100}, metrics=old)[0] == score_runs(qrels, {"m": at_1000}, metrics=old)[0]


def test_models_differ_and_the_weaker_one_is_significantly_worse(result: dict) -> None:
    base, small = result["models"]["base"], result["models"]["small"]
    assert small["recall@10"] < base["recall@10"] - 0.2
    assert result["significance"]["small"]["recall@10"]["significant"] is True


def test_base_against_itself_is_not_significant(setup: Setup) -> None:
    same = evaluate_offline({"base": "base", "again": "base"}, setup.world_dir, "test", setup.cache, progress=False)
    assert same["models"]["again"] == same["models"]["base"]
    sig = same["significance"]["again"]
    for cell in [*without_gold(sig).values(), *sig[GOLD].values()]:
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
