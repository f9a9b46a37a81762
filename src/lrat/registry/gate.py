"""The promotion gate: the checks a candidate must pass against the current champion (or the base model when
there is none), computed from a fresh paired evaluation of both on the same held-out questions.

Settings come from params.yaml ``promote:``. Every check reports what was observed, the threshold and whether it
passed; a check that cannot apply (no agent-level evaluation on a real benchmark, no labels behind a stock model)
is ``passed: null`` with the reason, and never counts as a pass or a failure.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from lrat.settings.sections import Promote

GateConfig = Promote  # params.yaml `promote:` (lrat.settings)


@dataclass(frozen=True)
class Check:
    name: str
    observed: float | str | None
    op: str
    threshold: float | str | None
    passed: bool | None  # None: not applicable (see detail)
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _at_least(name: str, observed: float, threshold: float, detail: str) -> Check:
    return Check(name, round(observed, 6), ">=", threshold, bool(observed >= threshold), detail)


def _at_most(name: str, observed: float, threshold: float, detail: str) -> Check:
    return Check(name, round(observed, 6), "<=", threshold, bool(observed <= threshold), detail)


def check_name(metric: str) -> str:
    """Check names are MLflow metric names too, and MLflow rejects '@'."""
    return metric.replace("@", "_at_")


def offline_checks(current: dict[str, float], candidate: dict[str, float], p_value: float,
                   cfg: GateConfig, missing: str = "") -> list[Check]:
    """The primary metric's gain and significance, and no regression on `promote.no_regression`; ``current`` and
    ``candidate`` hold the question-level and the agent-query metrics side by side (``missing``: why a metric
    named there may be absent)."""
    primary = cfg.primary
    base = current[primary]
    gain = (candidate[primary] - base) / base if base > 0 else (float("inf") if candidate[primary] > 0 else 0.0)
    checks = [
        _at_least(f"{check_name(primary)}_gain", gain, cfg.min_gain,
                  f"relative gain {candidate[primary]:.4f} vs {base:.4f}"),
        Check(f"{check_name(primary)}_significance", p_value, "<", cfg.alpha, bool(p_value < cfg.alpha and gain > 0),
              "paired two-sided t-test over the held-out questions" + ("" if gain > 0 else " (no gain)")),
    ]
    for metric in cfg.no_regression:
        if metric == primary:
            continue
        if metric in current and metric in candidate:
            delta = candidate[metric] - current[metric]
            checks.append(_at_least(f"{check_name(metric)}_no_regression", delta, -cfg.max_drop,
                                    f"{candidate[metric]:.4f} vs {current[metric]:.4f}"))
        else:
            checks.append(Check(f"{check_name(metric)}_no_regression", None, ">=", -cfg.max_drop, None,
                                f"{metric} was not measured ({missing or 'not an evaluated metric'})"))
    return checks


def validation_check(status: str | None, trained: bool, cfg: GateConfig) -> Check:
    """``status``: the candidate training run's `validation.status` (passed / failed / missing)."""
    if not trained:
        return Check("label_validation", "no training labels", "==", "passed", None,
                     "a stock model (not trained by lrat): no labels to validate")
    observed = status or "missing"
    if not cfg.require_validation:
        return Check("label_validation", observed, "==", "passed", None, "promote.require_validation is off")
    return Check("label_validation", observed, "==", "passed", observed == "passed",
                 "`lrat validate` result of the exact labels the candidate was trained on")


def agent_checks(current: dict[str, float] | None, candidate: dict[str, float] | None, cfg: GateConfig,
                 why_not: str = "") -> list[Check]:
    if current is None or candidate is None:
        reason = why_not or "no agent-level evaluation"
        return [Check("agent_success", None, ">=", -cfg.max_success_drop, None, reason),
                Check("agent_searches", None, "<=", cfg.max_searches_rise, None, reason)]
    drop = candidate["success"] - current["success"]
    before, after = current["avg_search_calls"], candidate["avg_search_calls"]
    rise = (after - before) / before if before > 0 else 0.0
    return [_at_least("agent_success", drop, -cfg.max_success_drop,
                      f"success {candidate['success']:.3f} vs {current['success']:.3f}"),
            _at_most("agent_searches", rise, cfg.max_searches_rise,
                     f"searches per question {after:.2f} vs {before:.2f} (relative change)")]


def passed(checks: list[Check]) -> bool:
    """Promote only when no applicable check failed (and at least one applied)."""
    applicable = [c for c in checks if c.passed is not None]
    return bool(applicable) and all(c.passed for c in applicable)
