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


def _by_name(checks):
    return {c.name: c for c in checks}


def test_a_clear_significant_gain_passes_every_offline_check():
    better = {"recall@10": 0.60, "recall@100": 0.80, "ndcg@10": 0.55, "mrr@10": 0.70}
    checks = _by_name(offline_checks(CURRENT, better, 1e-9, GateConfig()))
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
    checks = _by_name(offline_checks(CURRENT, candidate, p, GateConfig()))
    assert checks[failing].passed is False
    assert not passed(list(checks.values()))


def test_a_worse_result_is_never_significant_in_its_favour():
    checks = _by_name(offline_checks(CURRENT, {**CURRENT, "recall@10": 0.30}, 1e-9, GateConfig()))
    assert checks["recall_at_10_significance"].passed is False
    assert "no gain" in checks["recall_at_10_significance"].detail


def test_other_metrics_may_drop_only_within_the_tolerance():
    cfg = GateConfig(max_drop=0.01)
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
    good = offline_checks(CURRENT, {**CURRENT, "recall@10": 0.6}, 1e-6, GateConfig())
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
