"""The label expectation suite, as code: versioned here, thresholds from ``params.yaml`` (``validate:``).

Every expectation carries a stable short ``name`` and a readable ``expected`` in its meta, so results, the JSON
metric and the report refer to the same check whatever GX calls it. The suite runs on the derived frame that
``lrat.validation.gate.derive_frame`` builds (one row per label; the columns below), because GX has no direct
expectation for "pos_id not in neg_ids", a per-group weight cap or a retention rate.

Derived columns: ``query_text``/``pos_text`` (stripped, "" for null), ``pos_not_in_negs`` (bool),
``trajectory_id``/``search_ordinal_key`` (-1 for null)/``pos_id``, ``kept_n_negs`` (null unless satisfied),
``weight``, ``weight_cap`` (1/H_raw of the row's group), ``group_weight_mean``, ``satisfied_num`` (0/1),
``reasoning_len`` (null when unknown), ``evidence_satisfied`` (0/1 on evidence rows, null elsewhere).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Collection, Mapping
from typing import Any

import great_expectations as gx
from great_expectations.expectations import (
    ExpectColumnMeanToBeBetween,
    ExpectColumnPairValuesAToBeGreaterThanB,
    ExpectColumnQuantileValuesToBeBetween,
    ExpectColumnValueLengthsToBeBetween,
    ExpectColumnValuesToBeBetween,
    ExpectColumnValuesToBeInSet,
    ExpectCompoundColumnsToBeUnique,
    ExpectTableRowCountToBeBetween,
)

from lrat.settings import Validate

SUITE_NAME = "lrat_labels"
SUITE_VERSION = "2"  # bump when an expectation is added, removed or changes meaning

DEFAULT_BOUNDS: dict[str, Any] = Validate().model_dump()  # params.yaml `validate:` left out

# The two checks that need evidence qrels; they are skipped (not failed) without them.
EVIDENCE_CHECKS = ("evidence_retention", "evidence_beats_non_evidence")
NON_EVIDENCE_PARAMETER = "non_evidence_retention"  # runtime value of the strict lower bound, passed to run()
# Every check in suite order, including those a run may skip: the stable names results are reported under.
EXPECTATION_NAMES = (
    "query_not_empty", "pos_not_empty", "pos_not_in_negs", "unique_search_positive", "kept_rows_have_negatives",
    "weight_positive", "weight_below_cap", "weight_mean_per_group", "satisfied_ratio", "reasoning_len_quantiles",
    "row_count", "no_held_out_questions", *EVIDENCE_CHECKS,
)
# Needs the splits (`lrat split`): skipped, not failed, without them.
HELD_OUT_CHECK = "no_held_out_questions"


class ExpectColumnQuantileValuesToBeBetweenPlainBool(ExpectColumnQuantileValuesToBeBetween):
    """GX 1.24.1's quantile expectation returns ``numpy.bool`` as success under NumPy 2, which its own result
    store cannot serialise (``ValidationDefinition.run`` raises TypeError); same check, plain bool."""

    def _validate(self, metrics: dict, runtime_configuration: dict | None = None, execution_engine: Any = None):
        out = super()._validate(metrics, runtime_configuration, execution_engine)
        return {**out, "success": bool(out["success"])}


def _pair(key: str, value: Any) -> list[float | None]:
    ok = isinstance(value, list | tuple) and len(value) == 2 and all(
        v is None or (isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)) for v in value
    )
    if not ok or (None not in value and value[0] > value[1]):
        raise ValueError(f"validate.{key}: expected [low, high] numbers (null = open), got {value!r}")
    return list(value)


def merge_bounds(overrides: Validate | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """DEFAULT_BOUNDS with ``overrides`` (the ``validate:`` section) on top, checked, quantile keys as "0.5".

    A given ``reasoning_len_quantiles`` replaces the default dict whole, so a quantile can be dropped.
    """
    overrides = overrides.model_dump() if isinstance(overrides, Validate) else dict(overrides or {})
    unknown = sorted(set(overrides) - set(DEFAULT_BOUNDS))
    if unknown:
        raise ValueError(f"validate: unknown key(s) {', '.join(unknown)}; known: {', '.join(DEFAULT_BOUNDS)}")
    bounds = {**copy.deepcopy(DEFAULT_BOUNDS), **overrides}
    min_rows = bounds["min_rows"]
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 0:
        raise ValueError(f"validate.min_rows: expected an integer >= 0, got {min_rows!r}")
    for key in ("weight_mean", "satisfied_ratio"):
        bounds[key] = _pair(key, bounds[key])
    quantiles = bounds["reasoning_len_quantiles"]
    if not isinstance(quantiles, Mapping) or not quantiles:
        raise ValueError(f"validate.reasoning_len_quantiles: expected {{quantile: [low, high]}}, got {quantiles!r}")
    normalised: dict[str, list[float | None]] = {}
    for q, pair in quantiles.items():
        try:
            qf = float(q)
        except (TypeError, ValueError):
            qf = math.nan
        if not 0 <= qf <= 1:
            raise ValueError(f"validate.reasoning_len_quantiles: quantile {q!r} is not a number in [0, 1]")
        normalised[str(qf)] = _pair(f"reasoning_len_quantiles.{q}", pair)
    bounds["reasoning_len_quantiles"] = dict(sorted(normalised.items(), key=lambda kv: float(kv[0])))
    retention = bounds["evidence_retention_min"]
    if isinstance(retention, bool) or not isinstance(retention, int | float) or not 0 <= retention <= 1:
        raise ValueError(f"validate.evidence_retention_min: expected a number in [0, 1], got {retention!r}")
    return bounds


def _meta(name: str, expected: Any) -> dict[str, Any]:
    return {"name": name, "expected": expected}


def build_suite(bounds: Mapping[str, Any] | None = None, *, skip: Collection[str] = ()) -> gx.ExpectationSuite:
    """The ``lrat_labels`` suite for these bounds (merged over the defaults), less the checks named in ``skip``
    (the retention checks when there are no qrels). The version travels in ``suite.meta["suite_version"]``."""
    b = merge_bounds(bounds)
    (w_lo, w_hi), (s_lo, s_hi) = b["weight_mean"], b["satisfied_ratio"]
    quantiles = b["reasoning_len_quantiles"]
    expectations: list[Any] = [
        ExpectColumnValueLengthsToBeBetween(column="query_text", min_value=1,
                                            meta=_meta("query_not_empty", "non-empty query text in every row")),
        ExpectColumnValueLengthsToBeBetween(column="pos_text", min_value=1,
                                            meta=_meta("pos_not_empty", "non-empty positive text in every row")),
        ExpectColumnValuesToBeInSet(column="pos_not_in_negs", value_set=[True],
                                    meta=_meta("pos_not_in_negs", "pos_id never among the row's neg_ids")),
        ExpectCompoundColumnsToBeUnique(
            column_list=["trajectory_id", "search_ordinal_key", "pos_id"],
            meta=_meta("unique_search_positive", "(trajectory_id, search_ordinal, pos_id) unique"),
        ),
        ExpectColumnValuesToBeBetween(column="kept_n_negs", min_value=1,
                                      meta=_meta("kept_rows_have_negatives", ">= 1 negative per kept row")),
        ExpectColumnValuesToBeBetween(column="weight", min_value=0, strict_min=True,
                                      meta=_meta("weight_positive", "weight > 0")),
        ExpectColumnPairValuesAToBeGreaterThanB(column_A="weight_cap", column_B="weight",
                                                meta=_meta("weight_below_cap", "weight < 1/H_raw of its group")),
        ExpectColumnValuesToBeBetween(column="group_weight_mean", min_value=w_lo, max_value=w_hi,
                                      meta=_meta("weight_mean_per_group", [w_lo, w_hi])),
        ExpectColumnMeanToBeBetween(column="satisfied_num", min_value=s_lo, max_value=s_hi,
                                    meta=_meta("satisfied_ratio", [s_lo, s_hi])),
        ExpectColumnQuantileValuesToBeBetweenPlainBool(
            column="reasoning_len",
            quantile_ranges={"quantiles": [float(q) for q in quantiles], "value_ranges": list(quantiles.values())},
            meta=_meta("reasoning_len_quantiles", quantiles),
        ),
        ExpectTableRowCountToBeBetween(min_value=b["min_rows"], meta=_meta("row_count", f">= {b['min_rows']}")),
        ExpectColumnValuesToBeInSet(column="held_out", value_set=[False], meta=_meta(
            HELD_OUT_CHECK, "no row from a held-out question (a split other than train)")),
    ]
    expectations += [
        ExpectColumnMeanToBeBetween(column="evidence_satisfied", min_value=b["evidence_retention_min"],
                                    meta=_meta("evidence_retention", f">= {b['evidence_retention_min']}")),
        ExpectColumnMeanToBeBetween(
            column="evidence_satisfied", min_value={"$PARAMETER": NON_EVIDENCE_PARAMETER}, strict_min=True,
            meta=_meta("evidence_beats_non_evidence", "evidence_retention > non_evidence_retention"),
        ),
    ]
    unknown = set(skip) - set(EXPECTATION_NAMES)
    if unknown:
        raise ValueError(f"cannot skip unknown check(s): {', '.join(sorted(unknown))}")
    kept = [e for e in expectations if e.meta["name"] not in skip]
    return gx.ExpectationSuite(name=SUITE_NAME, expectations=kept, meta={"suite_version": SUITE_VERSION})
