"""`lrat pr-comment`: a dry-run decision record as the one sticky pull-request comment (pure text, no MLflow)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lrat.cli import app
from lrat.registry.comment import LIMIT, MARKER, parse_record, render_comment

OFFLINE = {
    "current": {"recall@10": 0.4000, "recall@100": 0.7000, "ndcg@10": 0.3500, "mrr@10": 0.5000},
    "candidate": {"recall@10": 0.4600, "recall@100": 0.7100, "ndcg@10": 0.3900, "mrr@10": 0.5400},
    "p_values": {"recall@10": 0.0012, "recall@100": 0.3, "ndcg@10": 0.01, "mrr@10": 0.02},
}
PASSED_CHECKS = [
    {"name": "recall_at_10_gain", "observed": 0.15, "op": ">=", "threshold": 0.02, "passed": True,
     "detail": "relative gain 0.4600 vs 0.4000"},
    {"name": "recall_at_10_significance", "observed": 0.0012, "op": "<", "threshold": 0.05, "passed": True,
     "detail": "paired two-sided t-test over the held-out questions"},
    {"name": "recall_at_100_no_regression", "observed": 0.01, "op": ">=", "threshold": -0.01, "passed": True,
     "detail": "0.7100 vs 0.7000"},
    {"name": "label_validation", "observed": "passed", "op": "==", "threshold": "passed", "passed": True,
     "detail": "`lrat validate` result of the exact labels the candidate was trained on"},
    {"name": "agent_success", "observed": None, "op": ">=", "threshold": -0.01, "passed": None,
     "detail": "data.source is logs: no simulated world to replay the agent in: offline checks only"},
]


def _record(decision: str = "promoted", champion_version: str | None = "2", candidate_version: str | None = "3",
            checks: list | None = None) -> dict:
    """A record shaped like `promotion.judge()` (plus `dry_run`), as `lrat promote --dry-run --metrics` writes."""
    champion = ({"name": "lrat-retriever", "version": champion_version, "uri": f"models:/lrat-retriever/"
                 f"{champion_version}", "run_id": "abc", "aliases": ["champion"],
                 "spec": f"models:/lrat-retriever/{champion_version}"}
                if champion_version else
                {"version": None, "uri": "base", "spec": "base",
                 "note": "no champion yet: the candidate must beat the base model (train.base_model)"})
    return {
        "registry": {"name": "lrat-retriever", "tracking_uri": "http://mlflow.example.com:5000"},
        "time": "2026-12-08T09:00:00Z",
        "dry_run": True,
        "candidate": {"name": "lrat-retriever", "version": candidate_version,
                      "uri": "models:/lrat-retriever/3" if candidate_version else "models/lrat", "run_id": None,
                      "aliases": [], "spec": "models/lrat",
                      "description": "Trained on 480 label rows; held-out test (240 q): recall@10 0.460.",
                      "trained_by_lrat": True, "validation": "passed"},
        "decision": decision,
        "champion": champion,
        "gate": {"split": "test", "primary": "recall@10", "min_gain": 0.02, "alpha": 0.05, "max_drop": 0.01},
        "evaluation": {"benchmark": "data/world", "benchmark_sha256": "0" * 64, "split": "test", "n_queries": 240,
                       "seed": 13, "test": "paired two-sided Student's t-test", "offline": copy.deepcopy(OFFLINE),
                       "offline_gold": None, "agent": None, "agent_skipped": "data.source is logs"},
        "checks": copy.deepcopy(PASSED_CHECKS if checks is None else checks),
    }


def _refused() -> dict:
    checks = copy.deepcopy(PASSED_CHECKS)
    checks[0] = {"name": "recall_at_10_gain", "observed": -0.33344, "op": ">=", "threshold": 0.02, "passed": False,
                 "detail": "relative gain 0.2083 vs 0.3125"}
    checks[2] = {"name": "recall_at_100_no_regression", "observed": -0.0417, "op": ">=", "threshold": -0.01,
                 "passed": False, "detail": "0.6583 vs 0.7000"}
    record = _record("refused", checks=checks)
    record["evaluation"]["offline"]["candidate"]["recall@10"] = 0.2083
    return record


def _failed_table(comment: str) -> list[str]:
    """The rows of the failed-checks table (empty when there is none)."""
    lines = comment.splitlines()
    if "| failed check | observed | required | detail |" not in lines:
        return []
    start = lines.index("| failed check | observed | required | detail |") + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def test_a_promotion_says_it_would_promote_over_the_champion():
    comment = render_comment(_record(), "# Promotion (dry run): PROMOTED\n\nbody\n", "", run_url="https://ci/run/7")
    assert comment.splitlines()[0] == MARKER
    headline = comment.splitlines()[1]
    assert headline.startswith("## ") and "would promote" in headline and "`@champion` v2" in headline
    assert "version 3 (`models/lrat`) would replace `@champion` version 2" in comment
    assert "> Trained on 480 label rows; held-out test (240 q): recall@10 0.460." in comment
    assert "All applicable checks passed." in comment
    assert _failed_table(comment) == []
    assert "1 not applicable" in comment and "agent_success (data.source is logs" in comment
    assert "| recall@10 | 0.4000 | 0.4600 | +0.0600 (+15.0%) | 0.0012 |" in comment
    assert "No metric changed" in comment
    # the report, collapsed, with its headings below the comment's own
    assert "<details><summary>Promotion report</summary>" in comment
    assert "\n### Promotion (dry run): PROMOTED\n" in comment
    assert comment.index("<details>") < comment.index("### Promotion (dry run)") < comment.index("</details>")
    assert "[workflow run](https://ci/run/7)" in comment and "promote.yml" in comment
    assert "Dry run: the registry was not touched" in comment


def test_a_refusal_lists_only_the_failed_checks_with_their_values():
    comment = render_comment(_refused(), None, None, run_url=None)
    headline = comment.splitlines()[1]
    assert "would refuse" in headline and "would promote" not in comment
    assert "2 check(s) failed" in comment and "`@champion` would stay where it is" in comment
    rows = _failed_table(comment)
    assert rows == [
        "| recall_at_10_gain | -0.3334 | >= 0.02 | relative gain 0.2083 vs 0.3125 |",
        "| recall_at_100_no_regression | -0.0417 | >= -0.01 | 0.6583 vs 0.7000 |",
    ]
    assert not any("recall_at_10_significance" in row or "label_validation" in row for row in rows)
    assert "2 passed · 2 failed · 1 not applicable" in comment
    assert "All applicable checks passed" not in comment
    assert "No metrics diff was given." in comment
    assert "<details><summary>Promotion report" not in comment


def test_without_a_champion_the_base_model_is_named():
    record = _record(champion_version=None, candidate_version=None)
    record["candidate"]["description"] = "not registered in this store"  # what a dry run of a folder records
    comment = render_comment(record, None, None, run_url=None)
    assert "> not registered" not in comment
    assert "vs base model `base`" in comment.splitlines()[1]
    assert "`models/lrat` (not registered in this store) would replace the base model `base` (no `@champion` yet)" \
        in comment
    assert "| metric | base `base` | candidate |" in comment
    assert "version None" not in comment and "vNone" not in comment

    refused = {**_refused(), "champion": record["champion"]}
    comment = render_comment(refused, None, None, run_url=None)
    assert "vs base model `base`" in comment.splitlines()[1] and "would refuse" in comment.splitlines()[1]
    assert "there would still be no `@champion`" in comment and "would stay where it is" not in comment


def test_already_champion_and_a_real_decision_are_worded_as_such():
    unchanged = {**_record("unchanged"), "checks": [], "reason": "version 3 already is @champion; nothing to decide"}
    comment = render_comment(unchanged, None, None, run_url=None)
    assert "already champion" in comment.splitlines()[1]
    assert "version 3 already is @champion; nothing to decide" in comment and "### Checks" not in comment

    real = {**_record(), "dry_run": False}
    comment = render_comment(real, None, None, run_url=None)
    assert "(dry run)" not in comment and "would" not in comment.splitlines()[1]
    assert ": promoted" in comment.splitlines()[1] and "Dry run:" not in comment


def test_a_metrics_diff_is_shown_compacted_and_a_message_as_it_is():
    diff = ("| Path              | Metric     | main   | workspace   | Change   |\n"
            "|-------------------|------------|--------|-------------|----------|\n"
            "| metrics/eval.json | recall@10  | 0.4    | 0.46        | 0.06     |\n")
    comment = render_comment(_record(), None, diff, run_url=None)
    assert "| metrics/eval.json | recall@10 | 0.4 | 0.46 | 0.06 |" in comment
    assert "|---|---|---|---|---|" in comment and "No metric changed" not in comment

    header_only = "\n".join(diff.splitlines()[:2]) + "\n"  # what dvc prints when nothing changed
    assert "No metric changed" in render_comment(_record(), None, header_only, run_url=None)

    message = "`dvc metrics diff` against the base branch failed: see the job log."
    assert message in render_comment(_record(), None, message + "\n", run_url=None)


def test_a_huge_report_and_diff_are_cut_to_fit_a_github_comment():
    report = "# Promotion\n\n" + "".join(f"| row {i} | {'x' * 80} |\n" for i in range(5000))
    diff = ("| Path | Metric | main | workspace | Change |\n|---|---|---|---|---|\n"
            + "".join(f"| metrics/m.json | m{i} | 0 | {i} | {i} |\n" for i in range(3000)))
    comment = render_comment(_record(), report, diff, run_url="https://ci/run/7")
    assert len(comment) <= LIMIT < 65_536
    assert comment.startswith(MARKER)
    assert "The report is cut here" in comment and "more row(s) left out" in comment
    assert "3000 metric value(s) changed" in comment  # a long diff is collapsed
    # the footer and the closing tag survive the cut
    assert comment.rstrip().endswith("This comment is updated on every push.</sub>")
    assert comment.count("<details>") == comment.count("</details>") == 2


@pytest.mark.parametrize("text", ["not json", "[1, 2]", json.dumps({"decision": "promoted"}),
                                  json.dumps({"decision": "refused", "candidate": {}, "champion": {},
                                              "checks": [{"observed": 1}]})])
def test_malformed_records_are_rejected(text: str):
    with pytest.raises(ValueError, match="--record r.json"):
        parse_record(text, "--record r.json")


def test_the_command_writes_the_comment(tmp_path: Path):
    record = tmp_path / "promotion.json"
    record.write_text(json.dumps(_refused()))
    report = tmp_path / "promotion.md"
    report.write_text("# Promotion (dry run): REFUSED\n")
    diff = tmp_path / "diff.md"
    diff.write_text("")
    out = tmp_path / "out" / "comment.md"
    result = CliRunner().invoke(app, ["pr-comment", "--record", str(record), "--report", str(report),
                                      "--metrics-diff", str(diff), "--run-url", "https://ci/run/9",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert text.startswith(MARKER + "\n") and "would refuse" in text
    assert "### Promotion (dry run): REFUSED" in text and "No metric changed" in text
    assert "https://ci/run/9" in text
    assert [p.name for p in out.parent.iterdir()] == ["comment.md"]  # written atomically: no temp file left

    stdout = CliRunner().invoke(app, ["pr-comment", "--record", str(record)])
    assert stdout.exit_code == 0 and stdout.stdout.startswith(MARKER)


@pytest.mark.parametrize(("content", "message"), [
    (None, "does not exist"),
    ("{not json", "is not JSON"),
    (json.dumps({"decision": "promoted", "candidate": {}}), "no champion"),
])
def test_the_command_exits_2_on_a_missing_or_malformed_record(tmp_path: Path, content: str | None, message: str):
    record = tmp_path / "promotion.json"
    if content is not None:
        record.write_text(content)
    out = tmp_path / "comment.md"
    result = CliRunner().invoke(app, ["pr-comment", "--record", str(record), "--out", str(out)])
    assert result.exit_code == 2
    assert message in result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert not out.exists()
