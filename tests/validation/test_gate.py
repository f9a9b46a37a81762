"""The label validation gate: a clean label set passes, each kind of corruption fails the check that names it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from lrat.validation.command import validate_command
from lrat.validation.gate import validate
from lrat.validation.suite import DEFAULT_BOUNDS, EXPECTATION_NAMES, SUITE_VERSION, build_suite, merge_bounds
from tests.validation.labels import LabelSet, make_labels


@pytest.fixture
def labels() -> LabelSet:
    return make_labels()


def _run(tmp_path: Path, labels: LabelSet, qrels: bool = True, **bounds: Any) -> dict[str, Any]:
    path = labels.write(tmp_path)
    return validate(path, bounds=bounds, qrels_evidence=labels.write_qrels(tmp_path) if qrels else None)


def _splits(tmp_path: Path, held_out: tuple[str, ...] = ("q-held-out",)) -> Path:
    path = tmp_path / "splits.json"
    path.write_text(json.dumps({"train": ["q0", "q1"], "test": list(held_out)}), encoding="utf-8")
    return path


def _failed(result: dict[str, Any]) -> set[str]:
    return {e["name"] for e in result["expectations"] if e["status"] == "failed"}


def test_clean_set_passes_every_check(tmp_path: Path, labels: LabelSet):
    out, report = tmp_path / "metrics" / "validation.json", tmp_path / "reports" / "validation.md"
    result = validate(labels.write(tmp_path), bounds={}, qrels_evidence=labels.write_qrels(tmp_path),
                      out=out, report=report, splits=_splits(tmp_path))

    assert result["success"] is True
    assert (result["suite"], result["suite_version"], result["rows"]) == ("lrat_labels", SUITE_VERSION, 300)
    assert [e["name"] for e in result["expectations"]] == list(EXPECTATION_NAMES)
    assert all(e["success"] is True and e["status"] == "passed" for e in result["expectations"])
    by_name = {e["name"]: e for e in result["expectations"]}
    assert set(by_name["weight_mean_per_group"]["observed"]) == {"sim", "bcp"}
    assert by_name["evidence_retention"]["observed"] == pytest.approx(29 / 30, abs=1e-6)
    assert by_name["row_count"]["observed"] == 300
    assert json.loads(out.read_text(encoding="utf-8")) == result
    assert "✅" in report.read_text(encoding="utf-8") and "❌" not in report.read_text(encoding="utf-8")


def _times3(ls: LabelSet) -> None:
    for r in ls.rows:
        r["weight"] *= 3


def _drop_evidence(ls: LabelSet) -> None:
    for r in ls.rows:
        if (r["query_id"], r["pos_id"]) in ls.evidence:
            r["satisfied"] = False


def _duplicate(ls: LabelSet) -> None:
    ls.rows.append(dict(ls.rows[10]))


def _duplicate_null_ordinal(ls: LabelSet) -> None:
    row = next(r for r in ls.rows if r["search_ordinal"] is None)
    ls.rows.append(dict(row))


def _empty_query(ls: LabelSet) -> None:
    ls.rows[3]["query"] = "   "


def _null_pos(ls: LabelSet) -> None:
    ls.rows[4]["pos"] = None


def _empty_pos(ls: LabelSet) -> None:
    ls.rows[4]["pos"] = ""


def _pos_in_negs(ls: LabelSet) -> None:
    ls.rows[2]["neg_ids"] = [*ls.rows[2]["neg_ids"], ls.rows[2]["pos_id"]]


def _kept_without_negs(ls: LabelSet) -> None:
    row = next(r for r in ls.rows if r["satisfied"])
    row["neg_ids"], row["negs"] = [], []


def _negative_weight(ls: LabelSet) -> None:
    ls.rows[6]["weight"] = -0.5


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (_times3, {"weight_below_cap", "weight_mean_per_group"}),
        (_drop_evidence, {"evidence_retention", "evidence_beats_non_evidence"}),
        (_duplicate, {"unique_search_positive"}),
        (_duplicate_null_ordinal, {"unique_search_positive"}),
        (_empty_query, {"query_not_empty"}),
        (_null_pos, {"pos_not_empty"}),
        (_empty_pos, {"pos_not_empty"}),
        (_pos_in_negs, {"pos_not_in_negs"}),
        (_kept_without_negs, {"kept_rows_have_negatives"}),
        (_negative_weight, {"weight_positive"}),
    ],
)
def test_corruption_fails_the_named_check(tmp_path: Path, labels: LabelSet, corrupt: Callable[[LabelSet], None],
                                          expected: set[str]):
    corrupt(labels)
    result = _run(tmp_path, labels)
    assert result["success"] is False
    assert _failed(result) == expected


def test_few_evidence_rows_dropped_fails_retention_only(tmp_path: Path, labels: LabelSet):
    kept = [r for r in labels.rows if (r["query_id"], r["pos_id"]) in labels.evidence and r["satisfied"]]
    for r in kept[:6]:  # 58/60 → 52/60 kept: below 0.9, still above the other rows' 0.75
        r["satisfied"] = False
    result = _run(tmp_path, labels)
    assert _failed(result) == {"evidence_retention"}
    entry = next(e for e in result["expectations"] if e["name"] == "evidence_beats_non_evidence")
    assert entry["observed"] == {"evidence_retention": pytest.approx(52 / 60), "non_evidence_retention": 0.75}


def test_very_long_reasoning_stays_under_the_cap(tmp_path: Path, labels: LabelSet):
    labels.rows[8]["reasoning_len"] = 50_000  # raw score rounds to exactly 1.0, so w == 1/H_raw in floats
    labels.reweight()
    assert _run(tmp_path, labels)["success"] is True


def test_failing_rows_are_named_by_line(tmp_path: Path, labels: LabelSet):
    _empty_query(labels)
    entry = next(e for e in _run(tmp_path, labels)["expectations"] if e["name"] == "query_not_empty")
    assert entry["observed"] == 1
    assert entry["details"]["examples"] == [{"line": 4, "trajectory_id": "traj-0", "pos_id": "doc-3"}]


def test_satisfied_ratio_out_of_bounds(tmp_path: Path, labels: LabelSet):
    for r in labels.rows:
        r["satisfied"] = r["pos_id"] != "doc-1"  # 299 of 300 kept: above 0.99
    assert "satisfied_ratio" in _failed(_run(tmp_path, labels, qrels=False))
    assert _failed(_run(tmp_path, make_labels(), qrels=False, satisfied_ratio=[0.9, 1.0])) == {"satisfied_ratio"}


def test_reasoning_length_quantiles_checked_against_bounds(tmp_path: Path, labels: LabelSet):
    result = _run(tmp_path, labels, reasoning_len_quantiles={0.5: [1, 20]})
    entry = next(e for e in result["expectations"] if e["name"] == "reasoning_len_quantiles")
    assert _failed(result) == {"reasoning_len_quantiles"}
    assert list(entry["observed"]) == ["0.5"] and entry["observed"]["0.5"] > 20


def test_missing_qrels_skips_retention_checks(tmp_path: Path, labels: LabelSet):
    _drop_evidence(labels)  # would fail retention, but there are no qrels to tell
    result = _run(tmp_path, labels, qrels=False, satisfied_ratio=[0.4, 0.99])
    skipped = {e["name"]: e for e in result["expectations"] if e["status"] == "skipped"}
    assert set(skipped) == {"evidence_retention", "evidence_beats_non_evidence", "no_held_out_questions"}
    assert all(e["success"] is None and e["details"]["reason"] for e in skipped.values())
    assert result["success"] is True


def test_qrels_without_evidence_rows_skips(tmp_path: Path, labels: LabelSet):
    qrels = tmp_path / "other.txt"
    qrels.write_text("q999 0 doc-x 1\n", encoding="utf-8")
    result = validate(labels.write(tmp_path), bounds={}, qrels_evidence=qrels)
    assert result["success"] is True
    assert {e["name"] for e in result["expectations"] if e["status"] == "skipped"} == {
        "evidence_retention", "evidence_beats_non_evidence", "no_held_out_questions"}


def test_labels_of_held_out_questions_fail_naming_them(tmp_path: Path, labels: LabelSet):
    leaking = sorted({row["query_id"] for row in labels.rows})[:3]
    result = validate(labels.write(tmp_path), bounds={}, splits=_splits(tmp_path, tuple(leaking)))
    assert _failed(result) == {"no_held_out_questions"} and result["success"] is False
    check = next(e for e in result["expectations"] if e["name"] == "no_held_out_questions")
    assert check["details"]["questions"] == leaking
    assert check["observed"]["rows"] == sum(row["query_id"] in leaking for row in labels.rows) > 0
    clean = validate(labels.write(tmp_path), bounds={}, splits=_splits(tmp_path))
    assert clean["success"] is True and "no_held_out_questions" not in _failed(clean)


def test_empty_file_fails_cleanly(tmp_path: Path):
    path = tmp_path / "labels.jsonl"
    path.write_text("", encoding="utf-8")
    result = validate(path, bounds={})
    assert result["success"] is False and result["rows"] == 0
    assert "row_count" in _failed(result)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not a JSON line"),
        ("[1, 2]", "expected a JSON object"),
        ('{"trajectory_id": "t"}', "missing key(s)"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path: Path, labels: LabelSet, line: str, message: str):
    path = labels.write(tmp_path)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(6, line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(f"{path}:7: ") + ".*" + re.escape(message)):
        validate(path, bounds={})


@pytest.mark.parametrize(
    ("key", "value"),
    [("satisfied", "yes"), ("neg_ids", "doc-1"), ("weight", float("nan")), ("pairing", "first"),
     ("search_ordinal", 1.5), ("judge", {"backend": "rules", "verdict": "MAYBE", "error": None})],
)
def test_wrong_type_names_file_line_and_key(tmp_path: Path, labels: LabelSet, key: str, value: Any):
    labels.rows[9][key] = value
    path = labels.write(tmp_path)
    with pytest.raises(ValueError, match=rf"{path}:10: '{key}' must be"):
        validate(path, bounds={})


def test_bounds_are_checked_and_travel_in_the_suite():
    assert merge_bounds({})["reasoning_len_quantiles"] == {"0.5": [5, 2000], "0.9": [10, 4000]}
    assert merge_bounds({"weight_mean": [0.9, 1.1]})["weight_mean"] == [0.9, 1.1]
    assert DEFAULT_BOUNDS["weight_mean"] == [0.98, 1.02]  # not mutated by merging
    for bad in ({"weight_mean": [1.1, 0.9]}, {"min_rows": -1}, {"satisfied": [0, 1]},
                {"reasoning_len_quantiles": {"p90": [1, 2]}}, {"evidence_retention_min": 2}):
        with pytest.raises(ValueError, match="validate"):
            merge_bounds(bad)
    suite = build_suite({}, skip=("evidence_retention", "evidence_beats_non_evidence"))
    assert suite.name == "lrat_labels" and suite.meta["suite_version"] == SUITE_VERSION
    assert [e.meta["name"] for e in suite.expectations] == list(EXPECTATION_NAMES[:-2])


# --- the command ---------------------------------------------------------------------------------------------------


def _cli(tmp_path: Path, *args: str) -> Any:
    app = typer.Typer()
    app.command()(validate_command)
    out, report = tmp_path / "m" / "validation.json", tmp_path / "r" / "validation.md"
    return CliRunner().invoke(app, [*args, "--out", str(out), "--report", str(report)])


def test_cli_passes_writes_files_and_prints_json(tmp_path: Path, labels: LabelSet):
    path, qrels = labels.write(tmp_path), labels.write_qrels(tmp_path)
    result = _cli(tmp_path, "--labels", str(path), "--qrels-evidence", str(qrels),
                  "--params", str(tmp_path / "absent.yaml"), "--splits", str(_splits(tmp_path)), "--json")
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["success"] is True and len(printed["expectations"]) == len(EXPECTATION_NAMES)
    assert json.loads((tmp_path / "m" / "validation.json").read_text(encoding="utf-8")) == printed
    assert "| ✅ | `row_count` | 300 |" in (tmp_path / "r" / "validation.md").read_text(encoding="utf-8")
    assert "Calculating Metrics" not in result.stderr  # GX progress bars are off
    assert "validation passed: 14/14 checks passed" in result.stderr


def test_cli_fails_with_one_line_per_failed_check(tmp_path: Path, labels: LabelSet):
    _times3(labels)
    params = tmp_path / "params.yaml"
    params.write_text(f"data:\n  qrels_evidence: {labels.write_qrels(tmp_path)}\n", encoding="utf-8")
    result = _cli(tmp_path, "--labels", str(labels.write(tmp_path)), "--params", str(params),
                  "--splits", str(_splits(tmp_path)))
    assert result.exit_code == 1
    assert "FAILED weight_mean_per_group: observed {'bcp': 3.0, 'sim': 3.0} expected [0.98, 1.02]" in result.stderr
    assert sum(line.startswith("FAILED ") for line in result.stderr.splitlines()) == 2
    report = (tmp_path / "r" / "validation.md").read_text(encoding="utf-8")
    assert "| ❌ | `weight_mean_per_group` |" in report
    saved = json.loads((tmp_path / "m" / "validation.json").read_text(encoding="utf-8"))
    assert saved["qrels_evidence"] and not any(e["status"] == "skipped" for e in saved["expectations"])
    mean_check = next(e for e in saved["expectations"] if e["name"] == "weight_mean_per_group")
    assert mean_check["details"]["failing_groups"] == ["bcp", "sim"]


def test_cli_bounds_come_from_params(tmp_path: Path, labels: LabelSet):
    params = tmp_path / "params.yaml"
    params.write_text("validate:\n  min_rows: 1000\n", encoding="utf-8")
    result = _cli(tmp_path, "--labels", str(labels.write(tmp_path)), "--params", str(params))
    assert result.exit_code == 1
    assert "FAILED row_count: observed 300 expected >= 1000" in result.stderr
    params.write_text("validate:\n  min_row: 1000\n", encoding="utf-8")
    result = _cli(tmp_path, "--labels", str(labels.write(tmp_path)), "--params", str(params))
    assert result.exit_code == 2 and "validate.min_row: unknown key" in result.stderr


def test_cli_usage_errors_exit_2(tmp_path: Path, labels: LabelSet):
    absent = str(tmp_path / "absent.yaml")
    missing = _cli(tmp_path, "--labels", str(tmp_path / "nope.jsonl"), "--params", absent)
    assert missing.exit_code == 2
    path = labels.write(tmp_path)
    path.write_text(path.read_text(encoding="utf-8") + "{oops\n", encoding="utf-8")
    bad = _cli(tmp_path, "--labels", str(path), "--params", absent)
    assert bad.exit_code == 2 and f"{path}:301: not a JSON line" in bad.stderr
    params = tmp_path / "params.yaml"
    params.write_text(f"data:\n  qrels_evidence: {tmp_path / 'gone.txt'}\n", encoding="utf-8")
    gone = _cli(tmp_path, "--labels", str(labels.write(tmp_path)), "--params", str(params))
    assert gone.exit_code == 2 and "gone.txt not found" in gone.stderr
    assert not (tmp_path / "m" / "validation.json").exists()
