"""The CLI contract: flags, exit codes, --json, and a fast start (no heavy imports at start-up)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from lrat.cli import app

from .test_runner import GOOD, write

runner = CliRunner()


def test_help_lists_the_stages():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "ingest" in result.output


def test_ingest_json_summary_and_exit_codes(tmp_path: Path):
    write(tmp_path / "in" / "a.json", GOOD)
    result = runner.invoke(app, ["ingest", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["trajectories"] == 1
    write(tmp_path / "in" / "bad.jsonl", "{broken\n")
    result = runner.invoke(app, ["ingest", str(tmp_path / "in"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0
    assert "bad.jsonl:1" in result.stderr
    result = runner.invoke(app, ["ingest", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--fail-on-reject"])
    assert result.exit_code == 1


def test_usage_errors_exit_2(tmp_path: Path):
    missing = runner.invoke(app, ["ingest", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert missing.exit_code == 2
    unknown = runner.invoke(app, ["ingest", str(tmp_path), "--out", str(tmp_path / "o"), "--format", "xml"])
    assert unknown.exit_code == 2


def test_cli_start_does_not_import_heavy_libraries():
    heavy = "('torch', 'mlflow', 'bentoml', 'sentence_transformers', 'great_expectations')"
    code = f"import sys, lrat.cli; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_params_yaml_tool_names(tmp_path: Path):
    record = {"query_id": "1", "status": "completed", "result": [
        {"type": "tool_call", "tool_name": "kb_lookup", "arguments": '{"query": "q"}', "output": '[{"docid": "1"}]'},
        {"type": "output_text", "tool_name": None, "arguments": None, "output": "x"}]}
    write(tmp_path / "a.json", record)
    write(tmp_path / "params.yaml", "ingest:\n  search_tools: [kb_lookup]\n")
    result = runner.invoke(app, ["ingest", str(tmp_path / "a.json"), "--out", str(tmp_path / "o"),
                                 "--params", str(tmp_path / "params.yaml")])
    assert result.exit_code == 0
    steps = json.loads((tmp_path / "o" / "trajectories.jsonl").read_text())["steps"]
    assert [s["kind"] for s in steps] == ["search", "answer"]
