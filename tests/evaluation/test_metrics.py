"""`score_runs` gives ranx's numbers (means and paired-test p-values) without ranx at run time."""

from __future__ import annotations

import random
import warnings

import pytest

from lrat.evaluation.metrics import parse_metric, query_score
from lrat.evaluation.offline import METRICS, _p_value, _round, ranked_run, score_runs


def _random_case(seed: int) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, list[str]]]]:
    rng = random.Random(seed)
    docs = [f"d{i}" for i in range(60)]
    qrels = {f"q{i}": {d: rng.choice([1, 1, 2, 3]) for d in rng.sample(docs, rng.randint(1, 6))} for i in range(40)}
    rankings: dict[str, dict[str, list[str]]] = {}
    for name in ("base", "a", "b"):
        run = {}
        for q, relevant in qrels.items():
            if rng.random() < 0.05:
                continue  # a question the model did not answer: scored as an empty ranking
            pool = docs if name == "base" else list(relevant) * 3 + docs
            run[q] = list(dict.fromkeys(rng.sample(pool, rng.randint(0, 40))))
        run["extra"] = ["d1", "d2"]  # a question without qrels: not scored
        rankings[name] = run
    rankings["same"] = dict(rankings["base"])  # identical to the baseline: no test possible, p = 1
    return qrels, rankings


def _ranx(qrels, rankings, metrics):
    from numba.core.errors import NumbaTypeSafetyWarning
    from ranx import Qrels, Run, compare

    runs = [Run(ranked_run(r), name=n) for n, r in rankings.items()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaTypeSafetyWarning)
        return compare(Qrels(qrels), runs, list(metrics), stat_test="student", max_p=0.05, make_comparable=True)


@pytest.mark.parametrize("seed", range(6))
def test_means_and_p_values_are_ranx_s(seed: int) -> None:
    pytest.importorskip("ranx")
    qrels, rankings = _random_case(seed)
    metrics = (*METRICS, "recall@5", "ndcg@3", "mrr@1")
    means, significance = score_runs(qrels, rankings, metrics=metrics)
    report = _ranx(qrels, rankings, metrics)
    for name in rankings:
        assert means[name] == {m: _round(report.results[name][m]) for m in metrics}, name
        if name == "base":
            continue
        pair = report.comparisons[frozenset(("base", name))]
        assert {m: c["p_value"] for m, c in significance[name].items()} == {
            m: _p_value(pair[m]["p_value"]) for m in metrics}, name
    assert all(c == {"p_value": 1.0, "significant": False} for c in significance["same"].values())
    assert any(c["significant"] for c in significance["a"].values())  # the case has real differences


def test_graded_levels_and_short_rankings() -> None:
    # nDCG with linear gains: ideal order 3, 1; the run finds the 1 first, then the 3
    assert query_score("ndcg", 10, {"a": 3, "b": 1}, ["b", "x", "a"]) == pytest.approx(
        (1 + 3 / 2) / (3 + 1 / 1.5849625007211562))
    assert query_score("recall", 2, {"a": 1, "b": 1}, ["x", "a", "b"]) == 0.5
    assert query_score("mrr", 1, {"a": 1}, ["x", "a"]) == 0.0
    assert query_score("recall", 10, {"a": 0}, ["a"]) == 0.0  # level 0 is not relevant


def test_unknown_metrics_are_refused() -> None:
    assert parse_metric("recall@100") == ("recall", 100)
    for bad in ("map@10", "recall", "ndcg@0", "mrr@x"):
        with pytest.raises(ValueError, match="unsupported metric"):
            parse_metric(bad)
    with pytest.raises(ValueError, match="unsupported metric"):
        score_runs({"q": {"a": 1}}, {"base": {"q": ["a"]}}, metrics=("map@10",))
