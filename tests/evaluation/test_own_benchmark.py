"""`lrat evaluate` on a user's benchmark: the files `data:` in params.yaml names (any names, any folders) and
`lrat split`'s held-out questions, offline metrics only (no simulated world to replay), the same numbers as the
same files in the world layout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from lrat.cli import app

from .test_offline import Setup


def user_files(setup: Setup, root: Path) -> dict[str, Path]:
    """The world's benchmark files under a user's names; no splits.json and no simulation.json beside them."""
    files = {"corpus": root / "docs" / "pages.jsonl", "queries": root / "topics" / "q.tsv",
             "qrels_evidence": root / "qrels" / "evidence.txt", "qrels_golds": root / "qrels" / "golds.txt",
             "splits": root / "split" / "splits.json"}
    for key, name in (("corpus", "corpus.jsonl"), ("queries", "queries.tsv"), ("qrels_evidence", "qrel_evidence.txt"),
                      ("qrels_golds", "qrel_golds.txt"), ("splits", "splits.json")):
        files[key].parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(setup.world_dir / name, files[key])
    return files


def test_logs_source_evaluates_the_configured_files_offline_only(setup: Setup, tmp_path: Path):
    files = user_files(setup, tmp_path / "mine")
    params = tmp_path / "params.yaml"
    params.write_text(f"data:\n  source: logs\n  corpus: {files['corpus']}\n  queries: {files['queries']}\n"
                      f"  qrels_evidence: {files['qrels_evidence']}\n  qrels_golds: {files['qrels_golds']}\n"
                      f"retrieval:\n  cache_dir: {setup.cache}\n", encoding="utf-8")
    runner = CliRunner()
    common = ["evaluate", "--model", "base=base", "--model", f"small={setup.small}", "--quiet"]
    ours = runner.invoke(app, [*common, "--params", str(params), "--splits", str(files["splits"]),
                               "--out", str(tmp_path / "eval.json"), "--agent-out", str(tmp_path / "agent.json")])
    assert ours.exit_code == 0, ours.output
    assert "agent-level evaluation skipped: data.source is logs" in ours.stderr
    skipped = json.loads((tmp_path / "agent.json").read_text())
    assert skipped["skipped"].startswith("data.source is logs") and skipped["split"] == "test"

    world = runner.invoke(app, [*common, "--world", str(setup.world_dir), "--no-agent", "--params",
                                str(tmp_path / "absent.yaml"), "--out", str(tmp_path / "world.json")])
    assert world.exit_code == 0, world.output
    ours_report, world_report = (json.loads((tmp_path / n).read_text()) for n in ("eval.json", "world.json"))
    # no logged queries of these questions either way (the reason differs: which source was looked at)
    assert "skipped" in ours_report.pop("agent_queries") and "skipped" in world_report.pop("agent_queries")
    assert ours_report == world_report
    assert "gold" in json.loads((tmp_path / "eval.json").read_text())["models"]["base"]
    # --no-agent asks for no agent-level file: an existing one (the pipeline's) is left as it is
    asked = runner.invoke(app, [*common, "--no-agent", "--params", str(params), "--splits", str(files["splits"]),
                                "--out", str(tmp_path / "again.json"), "--agent-out", str(tmp_path / "kept.json")])
    assert asked.exit_code == 0, asked.output
    assert not (tmp_path / "kept.json").exists()

    # the usual mistakes: no split yet, and a split for another benchmark
    missing = runner.invoke(app, [*common, "--params", str(params), "--splits", str(tmp_path / "none.json"),
                                  "--out", str(tmp_path / "x.json")])
    assert missing.exit_code == 2 and "run `lrat split`" in missing.stderr
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"train": [], "test": ["nope-1", "nope-2"]}), encoding="utf-8")
    wrong = runner.invoke(app, [*common, "--params", str(params), "--splits", str(other), "--out",
                                str(tmp_path / "x.json")])
    assert wrong.exit_code == 2 and "'nope-1'" in wrong.stderr and "another benchmark" in wrong.stderr


def test_gold_rows_follow_data_qrels_golds(setup: Setup, tmp_path: Path):
    """Gold rows when data.qrels_golds names a file; none when it is null or the file is not there (said)."""
    files = user_files(setup, tmp_path / "mine")
    runner = CliRunner()
    found, said = {}, {}
    for case, golds in (("given", files["qrels_golds"]), ("null", "null"), ("absent", tmp_path / "nope.txt")):
        params = tmp_path / f"{case}.yaml"
        params.write_text(f"data:\n  source: logs\n  corpus: {files['corpus']}\n  queries: {files['queries']}\n"
                          f"  qrels_evidence: {files['qrels_evidence']}\n  qrels_golds: {golds}\n"
                          f"retrieval:\n  cache_dir: {setup.cache}\n", encoding="utf-8")
        result = runner.invoke(app, ["evaluate", "--model", "base=base", "--quiet", "--no-agent", "--params",
                                     str(params), "--splits", str(files["splits"]), "--out",
                                     str(tmp_path / f"{case}.json")])
        assert result.exit_code == 0, result.output
        found[case], said[case] = json.loads((tmp_path / f"{case}.json").read_text()), result.stderr
        if case == "absent":
            assert f"no gold-qrels rows: {golds} not found" in result.stderr
    assert "gold" in found["given"]["models"]["base"] and found["given"]["n_queries_gold"] > 0
    assert "base (gold qrels): recall@5" in said["given"]
    for case in ("null", "absent"):
        assert "gold" not in found[case]["models"]["base"] and "n_queries_gold" not in found[case]
        assert "gold" not in found[case]["significance"] and "(gold qrels)" not in said[case]
        # the evidence rows are the same with or without the gold ones
        assert found[case]["models"]["base"] == {k: v for k, v in found["given"]["models"]["base"].items()
                                                 if k != "gold"}
