"""``lrat validate``: the mined labels against the ``lrat_labels`` suite, run by Great Expectations 1.x.

The labels are read and type-checked here first, so a broken file fails with its file and line rather than a GX
traceback; the checks GX cannot express directly (per-group weight cap, pos_id in neg_ids, retention) become
derived columns computed in pandas, and GX evaluates every expectation on that one frame.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig

from lrat.analyze.run import load_qrels_evidence
from lrat.benchmark import held_out_questions
from lrat.io import atomic_open, file_sha256, read_jsonl, write_json
from lrat.mining.compact import HASH_KEY, TEXT_KEYS, CorpusJoin, is_compact
from lrat.settings import Validate
from lrat.validation.report import render_markdown
from lrat.validation.suite import (
    EVIDENCE_CHECKS,
    EXPECTATION_NAMES,
    HELD_OUT_CHECK,
    NON_EVIDENCE_PARAMETER,
    SUITE_NAME,
    SUITE_VERSION,
    build_suite,
    merge_bounds,
)
from lrat.weighting import fit

# Float rounding: 1 − e^(−l·ln2/B) rounds to exactly 1 for l ≳ 53·B, giving w == 1/H_raw on valid data.
_CAP_TOLERANCE = 1e-9
_EXAMPLES = 5


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _strings(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _judge(v: Any) -> bool:
    return (isinstance(v, dict) and isinstance(v.get("backend"), str)
            and v.get("verdict", "missing") in ("RELEVANT", "NOT_RELEVANT", None)
            and (v.get("error", "missing") is None or isinstance(v.get("error"), str)))


# key → (check, what it must be); query and pos may be null: the suite reports those as empty texts.
FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "trajectory_id": (lambda v: isinstance(v, str), "a string"),
    "query_id": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "search_ordinal": (lambda v: v is None or _int(v), "an integer or null"),
    "query": (lambda v: v is None or isinstance(v, str), "a string"),
    "pos_id": (lambda v: isinstance(v, str), "a string"),
    "pos": (lambda v: v is None or isinstance(v, str), "a string"),
    "neg_ids": (_strings, "a list of strings"),
    "negs": (_strings, "a list of strings"),
    "reasoning_len": (lambda v: v is None or _int(v), "an integer or null"),
    "satisfied": (lambda v: isinstance(v, bool), "true or false"),
    "judge": (_judge, '{"backend": str, "verdict": "RELEVANT"|"NOT_RELEVANT"|null, "error": str|null}'),
    "weight": (lambda v: isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v),
               "a finite number"),
    "group": (lambda v: isinstance(v, str), "a string"),
    "pairing": (lambda v: v in ("latest", "attributed"), '"latest" or "attributed"'),
}


# A compact row (`lrat mine --format compact`): the same keys less the texts, plus the corpus hash.
COMPACT_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    **{k: v for k, v in FIELDS.items() if k not in TEXT_KEYS},
    HASH_KEY: (lambda v: isinstance(v, str) and len(v) == 64, "a sha256 hex digest"),
}


def read_labels(path: Path) -> tuple[list[dict[str, Any]], list[int]]:
    """Rows of a labels JSONL file and their line numbers; ValueError names file:line for the first bad one.
    Compact rows (with ``corpus_sha256``) have no ``pos``/``negs``: ``join_positives`` fills ``pos``."""
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    for lineno, row in read_jsonl(path):
        if not isinstance(row, dict):
            raise ValueError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
        fields = COMPACT_FIELDS if is_compact(row) else FIELDS
        missing = [key for key in fields if key not in row]
        if missing:
            raise ValueError(f"{path}:{lineno}: missing key(s) {', '.join(missing)}")
        for key, (ok, what) in fields.items():
            if not ok(row[key]):
                raise ValueError(f"{path}:{lineno}: {key!r} must be {what}, got {json.dumps(row[key])[:80]}")
        rows.append(row)
        lines.append(lineno)
    return rows, lines


def join_positives(path: Path, rows: list[dict[str, Any]], lines: list[int], corpus: Path | None) -> bool:
    """Give compact rows their positive's text from ``corpus`` (checked against the rows' ``corpus_sha256``; every
    docid, negatives too, must be in it, as training needs). False when there are compact rows but no corpus:
    the positive-text check is then skipped, not failed."""
    compact = [(row, line) for row, line in zip(rows, lines, strict=True) if is_compact(row)]
    if not compact or corpus is None:
        return not compact
    join = CorpusJoin(path)
    for row, line in compact:
        join.add(line, row, [row["pos_id"], *row["neg_ids"]])
    text = join.texts(corpus)
    for row, _ in compact:
        row["pos"] = text[row["pos_id"]]
    return True


def _text(v: str | None) -> str:
    return "" if v is None else v.strip()


def derive_frame(rows: list[dict[str, Any]], lines: list[int], evidence: set[tuple[str, str]] | None,
                 held_out: set[str] | None = None) -> pd.DataFrame:
    """One row per label with the columns the suite checks (see ``lrat.validation.suite``) plus ``line``."""
    groups: dict[str, list[int | None]] = {}
    for r in rows:
        groups.setdefault(r["group"], []).append(r["reasoning_len"])
    caps = {g: fit(lengths).max_weight * (1 + _CAP_TOLERANCE) for g, lengths in groups.items()}
    is_evidence = [evidence is not None and (r["query_id"], r["pos_id"]) in evidence for r in rows]
    frame = pd.DataFrame({
        "line": pd.Series(lines, dtype="int64"),
        "query_text": pd.Series([_text(r["query"]) for r in rows], dtype=object),
        "pos_text": pd.Series([_text(r.get("pos")) for r in rows], dtype=object),  # compact: joined
        "pos_not_in_negs": pd.Series([r["pos_id"] not in r["neg_ids"] for r in rows], dtype=bool),
        "trajectory_id": pd.Series([r["trajectory_id"] for r in rows], dtype=object),
        "search_ordinal_key": pd.Series([-1 if r["search_ordinal"] is None else r["search_ordinal"] for r in rows],
                                        dtype="int64"),
        "pos_id": pd.Series([r["pos_id"] for r in rows], dtype=object),
        "kept_n_negs": pd.Series([len(r["neg_ids"]) if r["satisfied"] else None for r in rows], dtype="float64"),
        "group": pd.Series([r["group"] for r in rows], dtype=object),
        "weight": pd.Series([float(r["weight"]) for r in rows], dtype="float64"),
        "weight_cap": pd.Series([caps[r["group"]] for r in rows], dtype="float64"),
        "satisfied_num": pd.Series([float(r["satisfied"]) for r in rows], dtype="float64"),
        "reasoning_len": pd.Series([r["reasoning_len"] for r in rows], dtype="float64"),
        "evidence_satisfied": pd.Series(
            [float(r["satisfied"]) if e else None for r, e in zip(rows, is_evidence, strict=True)], dtype="float64"
        ),
        "is_evidence": pd.Series(is_evidence, dtype=bool),
        "query_id": pd.Series([r["query_id"] for r in rows], dtype=object),
        "held_out": pd.Series([bool(held_out) and r["query_id"] in held_out for r in rows], dtype=bool),
    })
    frame["group_weight_mean"] = frame.groupby("group")["weight"].transform("mean")
    return frame


def _num(x: Any) -> Any:
    """JSON-safe, readable numbers: NaN → null, floats to 6 decimals."""
    if isinstance(x, float):
        return None if math.isnan(x) else round(x, 6)
    return x


def run_suite(frame: pd.DataFrame, suite: gx.ExpectationSuite, parameters: dict[str, Any]) -> dict[str, Any]:
    """Validate ``frame`` in a throwaway ephemeral context (no files, no progress bars); GX's JSON result."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (context.data_sources.add_pandas("lrat").add_dataframe_asset("labels")
             .add_batch_definition_whole_dataframe("all_rows"))
    suite = context.suites.add(suite)
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=SUITE_NAME, data=batch, suite=suite))
    result = definition.run(batch_parameters={"dataframe": frame}, expectation_parameters=parameters or None,
                            result_format="SUMMARY")
    return result.to_json_dict()


def _examples(frame: pd.DataFrame, index: list[int], extra: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    records = frame.loc[index[:_EXAMPLES], ["line", "trajectory_id", "pos_id", *extra]].to_dict("records")
    return [{k: _num(v) for k, v in rec.items()} for rec in records]


def _entry(res: dict[str, Any], frame: pd.DataFrame, parameters: dict[str, Any]) -> dict[str, Any]:
    """One GX result → {name, expectation, column, success, status, observed, expected, details}."""
    config, out = res["expectation_config"], res.get("result") or {}
    name, kwargs = config["meta"]["name"], config["kwargs"]
    column = kwargs.get("column") or kwargs.get("column_list") or (
        [kwargs["column_A"], kwargs["column_B"]] if "column_A" in kwargs else None)
    details: dict[str, Any] = {}
    if "unexpected_count" in out:  # a per-row check: how many rows fail, and a few of them
        observed: Any = out["unexpected_count"]
        details = {"unexpected_count": out["unexpected_count"],
                   "unexpected_percent": _num(out.get("unexpected_percent"))}
        index = out.get("partial_unexpected_index_list") or []
        if name == "weight_mean_per_group":
            means = frame.groupby("group")["weight"].mean()
            observed = {g: _num(float(m)) for g, m in means.items()}
            lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
            details["failing_groups"] = sorted(str(g) for g, m in means.items()
                                               if (lo is not None and m < lo) or (hi is not None and m > hi))
        elif index:
            extra = ("weight", "weight_cap") if name.startswith("weight") else ()
            details["examples"] = _examples(frame, index, extra)
    elif name == "reasoning_len_quantiles":
        value = out.get("observed_value") or {}
        observed = {str(q): _num(v) for q, v in zip(value.get("quantiles", []), value.get("values", []), strict=False)}
    elif name == "evidence_beats_non_evidence":
        observed = {"evidence_retention": _num(out.get("observed_value")),
                    "non_evidence_retention": _num(parameters[NON_EVIDENCE_PARAMETER])}
    else:
        observed = _num(out.get("observed_value"))
    if name == HELD_OUT_CHECK and not res["success"]:
        leaking = sorted({str(q) for q in frame.loc[frame["held_out"], "query_id"]})
        observed = {"rows": int(frame["held_out"].sum()), "questions": len(leaking),
                    "examples": leaking[:_EXAMPLES * 4]}
        details["questions"] = leaking
    if name.startswith("evidence"):
        details = {"evidence_rows": int(frame["is_evidence"].sum()), "rows": len(frame)}
    info = res.get("exception_info") or {}
    if info.get("raised_exception"):
        details["error"] = info.get("exception_message")
    success = bool(res["success"])
    return {"name": name, "expectation": config["type"], "column": column, "success": success,
            "status": "passed" if success else "failed", "observed": observed,
            "expected": config["meta"]["expected"], "details": details}


def _skipped(expectation: Any, reason: str) -> dict[str, Any]:
    """A check this run could not make (no qrels, no evidence rows): reported, never counted as failed."""
    return {"name": expectation.meta["name"], "expectation": expectation.expectation_type,
            "column": expectation.column, "success": None, "status": "skipped", "observed": None,
            "expected": expectation.meta["expected"], "details": {"reason": reason}}


def validate(labels: Path, *, bounds: Validate | dict | None = None, qrels_evidence: Path | None = None,
             out: Path | None = None, report: Path | None = None, corpus: Path | None = None,
             splits: Path | None = None) -> dict[str, Any]:
    """Run the ``lrat_labels`` suite on a labels JSONL file; write the result JSON to ``out`` and a Markdown
    table to ``report`` (both atomically, when given). ``success`` is False when any check fails; skipped
    checks (no qrels, no evidence rows; the positive texts of compact labels without ``corpus``) do not count.
    ValueError: a bad labels/qrels line, bad bounds, or compact labels whose corpus is another (sha256) or lacks
    one of their docids."""
    labels = Path(labels)
    merged = merge_bounds(bounds)
    rows, lines = read_labels(labels)
    texts_joined = join_positives(labels, rows, lines, None if corpus is None else Path(corpus))
    evidence: set[tuple[str, str]] | None = None
    if qrels_evidence is not None:
        evidence = {(q, d) for q, docs in load_qrels_evidence(Path(qrels_evidence)).items() for d in docs}
    held_out = None if splits is None else held_out_questions(Path(splits))
    frame = derive_frame(rows, lines, evidence, held_out)

    skip: dict[str, str] = {}
    parameters: dict[str, Any] = {}
    n_evidence = int(frame["is_evidence"].sum())
    if evidence is None:
        skip = dict.fromkeys(EVIDENCE_CHECKS, "no evidence qrels given")
    elif n_evidence == 0:
        skip = dict.fromkeys(EVIDENCE_CHECKS, f"no label's (query_id, pos_id) is evidence in {qrels_evidence}")
    elif n_evidence == len(frame):
        skip["evidence_beats_non_evidence"] = "every label is evidence: nothing to compare with"
    else:
        parameters[NON_EVIDENCE_PARAMETER] = float(frame.loc[~frame["is_evidence"], "satisfied_num"].mean())
    if held_out is None:
        skip[HELD_OUT_CHECK] = "no splits given (--splits: `lrat split`'s data/split/splits.json)"
    if not texts_joined:
        skip["pos_not_empty"] = "compact labels (docids only) and no corpus given to read the positive texts from"

    gx_result = run_suite(frame, build_suite(merged, skip=skip), parameters)
    by_name = {r["expectation_config"]["meta"]["name"]: _entry(r, frame, parameters) for r in gx_result["results"]}
    every = {e.meta["name"]: e for e in build_suite(merged).expectations}
    expectations = [by_name[n] if n in by_name else _skipped(every[n], skip[n]) for n in EXPECTATION_NAMES]
    result = {
        "success": all(e["success"] is not False for e in expectations),
        "suite": SUITE_NAME,
        "suite_version": SUITE_VERSION,
        "rows": len(frame),
        "kept_rows": int(frame["satisfied_num"].sum()),
        "labels": str(labels),
        "labels_sha256": file_sha256(labels),  # training records which labels this verdict is about
        "label_format": "compact" if any(is_compact(r) for r in rows) else "lrat",
        "corpus": None if corpus is None or not any(is_compact(r) for r in rows) else str(corpus),
        "qrels_evidence": None if qrels_evidence is None else str(qrels_evidence),
        "splits": None if splits is None else str(splits),
        "bounds": merged,
        "great_expectations": gx.__version__,
        "expectations": expectations,
    }
    if out is not None:
        write_json(Path(out), result)
    if report is not None:
        with atomic_open(Path(report)) as fh:
            fh.write(render_markdown(result))
    return result
