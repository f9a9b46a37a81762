"""The gate's checks as pure functions: what passes, what fails, and what does not apply."""

from __future__ import annotations

import pytest

from lrat.registry.gate import (
    GateConfig,
    agent_checks,
    offline_checks,
    passed,
    validation_check,
)
from lrat.settings import settings_from

CURRENT = {"recall@10": 0.40, "recall@100": 0.70, "ndcg@10": 0.35, "mrr@10": 0.50}


def question_gate(**changes):
    """The gate on question-level metrics only (the default before agent-query metrics)."""
    return GateConfig(**{"primary": "recall@10", "no_regression": ["recall@10", "recall@100", "ndcg@10", "mrr@10"],
                         **changes})


def _by_name(checks):
    return {c.name: c for c in checks}


def test_a_clear_significant_gain_passes_every_offline_check():
    better = {"recall@10": 0.60, "recall@100": 0.80, "ndcg@10": 0.55, "mrr@10": 0.70}
    checks = _by_name(offline_checks(CURRENT, better, 1e-9, question_gate()))
    assert set(checks) == {"recall_at_10_gain", "recall_at_10_significance", "recall_at_100_no_regression",
                           "ndcg_at_10_no_regression", "mrr_at_10_no_regression"}
    assert all(c.passed for c in checks.values())
    assert checks["recall_at_10_gain"].observed == pytest.approx(0.5)  # relative: 0.60 / 0.40 - 1


@pytest.mark.parametrize(("after", "p", "failing"), [
    (0.405, 1e-6, "recall_at_10_gain"),          # +1.25 % < +2 %
    (0.50, 0.2, "recall_at_10_significance"),     # a gain, but not significant
    (0.30, 1e-6, "recall_at_10_gain"),            # significantly worse
])
def test_primary_metric_needs_both_gain_and_significance(after, p, failing):
    candidate = {**CURRENT, "recall@10": after}
    checks = _by_name(offline_checks(CURRENT, candidate, p, question_gate()))
    assert checks[failing].passed is False
    assert not passed(list(checks.values()))


def test_a_worse_result_is_never_significant_in_its_favour():
    checks = _by_name(offline_checks(CURRENT, {**CURRENT, "recall@10": 0.30}, 1e-9, question_gate()))
    assert checks["recall_at_10_significance"].passed is False
    assert "no gain" in checks["recall_at_10_significance"].detail


def test_other_metrics_may_drop_only_within_the_tolerance():
    cfg = question_gate(max_drop=0.01)
    ok = {**CURRENT, "recall@10": 0.6, "ndcg@10": CURRENT["ndcg@10"] - 0.009}
    bad = {**CURRENT, "recall@10": 0.6, "ndcg@10": CURRENT["ndcg@10"] - 0.02}
    assert _by_name(offline_checks(CURRENT, ok, 1e-6, cfg))["ndcg_at_10_no_regression"].passed is True
    check = _by_name(offline_checks(CURRENT, bad, 1e-6, cfg))["ndcg_at_10_no_regression"]
    assert check.passed is False and check.observed == pytest.approx(-0.02) and check.threshold == -0.01


def test_label_validation():
    cfg = GateConfig()
    assert validation_check("passed", True, cfg).passed is True
    assert validation_check("failed", True, cfg).passed is False
    assert validation_check(None, True, cfg).passed is False  # trained by lrat, never validated
    assert validation_check(None, False, cfg).passed is None  # a stock model: not applicable
    assert validation_check("failed", True, GateConfig(require_validation=False)).passed is None


def test_agent_checks_and_their_absence():
    cfg = GateConfig(max_success_drop=0.01, max_searches_rise=0.05)
    current = {"success": 0.80, "avg_search_calls": 10.0}
    good = _by_name(agent_checks(current, {"success": 0.795, "avg_search_calls": 10.4}, cfg))
    assert good["agent_success"].passed and good["agent_searches"].passed
    bad = _by_name(agent_checks(current, {"success": 0.78, "avg_search_calls": 10.6}, cfg))
    assert bad["agent_success"].passed is False and bad["agent_searches"].passed is False
    assert bad["agent_searches"].observed == pytest.approx(0.06)
    skipped = agent_checks(None, None, cfg, "not a simulated world")
    assert [c.passed for c in skipped] == [None, None] and skipped[0].detail == "not a simulated world"


def test_not_applicable_checks_neither_pass_nor_fail_a_decision():
    good = offline_checks(CURRENT, {**CURRENT, "recall@10": 0.6}, 1e-6, question_gate())
    assert passed(good + agent_checks(None, None, GateConfig()) + [validation_check(None, False, GateConfig())])
    assert not passed(agent_checks(None, None, GateConfig()))  # nothing applied: no decision to promote


def gate_config(section: dict) -> GateConfig:
    return settings_from({"promote": section}).promote


def test_settings_are_checked():
    assert gate_config({"min_gain": 0.1, "alpha": None}) == GateConfig(min_gain=0.1)
    with pytest.raises(ValueError, match="promote.min_gian: unknown key"):
        gate_config({"min_gian": 0.1})
    with pytest.raises(ValueError, match="promote.primary"):
        gate_config({"primary": "map"})
    with pytest.raises(ValueError, match="promote.alpha"):
        gate_config({"alpha": 1.5})


def _evaluation(queries_current, queries_candidate, p_values):
    offline = {"current": CURRENT, "candidate": dict(CURRENT), "p_values": {m: 0.9 for m in CURRENT}}
    return {"offline": offline, "agent_queries": {"current": queries_current, "candidate": queries_candidate,
                                                  "p_values": p_values}}


def test_the_primary_metric_may_be_an_agent_query_metric():
    from lrat.registry.promotion import gate_checks

    cfg = GateConfig(primary="search_ndcg@10", no_regression=["recall@10", "trajectory_recall@10"])
    evaluation = _evaluation({"search_ndcg@10": 0.20, "trajectory_recall@10": 0.60},
                             {"search_ndcg@10": 0.25, "trajectory_recall@10": 0.55},
                             {"search_ndcg@10": 0.001, "trajectory_recall@10": 0.01})
    checks = _by_name(gate_checks(evaluation, False, None, cfg))
    assert checks["search_ndcg_at_10_gain"].passed and checks["search_ndcg_at_10_significance"].passed
    assert checks["search_ndcg_at_10_gain"].observed == pytest.approx(0.25)
    assert checks["recall_at_10_no_regression"].passed  # question-level recall@10 unchanged: no longer the primary
    assert checks["trajectory_recall_at_10_no_regression"].passed is False  # 0.05 lower > max_drop 0.01
    assert "mrr_at_10_no_regression" not in checks  # only the metrics no_regression names


def test_an_agent_query_primary_without_logged_queries_is_an_error():
    from lrat.registry.promotion import gate_checks

    evaluation = _evaluation({}, {}, {})
    with pytest.raises(ValueError, match="search_recall@10"):
        gate_checks(evaluation, False, None, GateConfig(primary="search_recall@10", fallback_primary=None))


def test_a_named_metric_that_was_not_measured_does_not_apply():
    cfg = question_gate(no_regression=["recall@10", "trajectory_recall@10"])
    checks = _by_name(offline_checks(CURRENT, dict(CURRENT), 0.5, cfg, "no logged queries at data/x"))
    assert checks["trajectory_recall_at_10_no_regression"].passed is None
    assert "no logged queries at data/x" in checks["trajectory_recall_at_10_no_regression"].detail


@pytest.mark.parametrize("bad", ["search_ndcg@5", "recall", "trajectory_recall@0", "success"])
def test_unknown_gate_metrics_are_refused(bad):
    with pytest.raises(ValueError, match="a metric"):
        settings_from({"promote": {"primary": bad}})


def test_without_logged_queries_the_fallback_primary_is_read_and_said():
    from lrat.registry.promotion import gate_checks

    evaluation = {**_evaluation({}, {}, {}), "agent_queries_skipped": "no logged queries at data/eval/x"}
    evaluation["offline"]["candidate"] = {**CURRENT, "recall@10": 0.60}
    evaluation["offline"]["p_values"]["recall@10"] = 1e-6
    cfg = GateConfig(primary="search_recall@10", fallback_primary="recall@10",
                     no_regression=["recall@10", "recall@100", "ndcg@10", "mrr@10"])
    checks = gate_checks(evaluation, False, None, cfg)
    assert checks[0].name == "primary_metric" and checks[0].passed is None
    assert "no logged queries at data/eval/x" in checks[0].detail and checks[0].observed == "recall@10"
    by_name = _by_name(checks)
    assert by_name["recall_at_10_gain"].passed and by_name["recall_at_10_significance"].passed
    assert passed(checks)
