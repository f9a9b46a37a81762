"""The CLI shell: help that explains, and clear usage errors (exit 2, naming the file and what produces it) before
any model loads."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from lrat.cli import app
from lrat.experiments.common import parse_list
from lrat.settings import ParamsError, settings_from

from .conftest import Sim


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else "")


def test_help_names_both_experiments_and_their_contract():
    code, out = _run("experiment", "--help")
    assert code == 0 and "scaling" in out and "topk" in out
    code, out = _run("experiment", "scaling", "--help")
    assert code == 0
    for flag in ("--fractions", "--max-rows", "--trajectories", "--world", "--models-dir", "--out", "--plot",
                 "--no-agent", "--quiet", "metrics/scaling.json", "reports/scaling.png"):
        assert flag in out
    code, out = _run("experiment", "topk", "--help")
    assert code == 0
    for flag in ("--k", "--model", "--base", "--world", "--out", "--plot", "metrics/topk.json", "reports/topk.png",
                 "@champion"):
        assert flag in out


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project folder: no pipeline outputs, no MLflow store."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def test_missing_pipeline_outputs_are_usage_errors_that_say_what_writes_them(project: Path, sim: Sim):
    code, out = _run("experiment", "scaling", "--quiet")
    assert code == 2 and "data/ingested/trajectories.jsonl not found" in out and "lrat ingest" in out
    code, out = _run("experiment", "scaling", "--trajectories", str(sim.trajectories), "--quiet")
    assert code == 2 and "data/world not found" in out and "make run" in out
    code, out = _run("experiment", "topk", "--quiet")
    assert code == 2 and "data/world not found" in out
    code, out = _run("experiment", "topk", "--world", str(sim.world), "--quiet")
    assert code == 2 and "mlflow.db not found" in out and "make run" in out
    assert not (project / "mlflow.db").exists() and not (project / "metrics").exists()


def test_bad_settings_are_usage_errors(project: Path, sim: Sim):
    world = ["--world", str(sim.world), "--quiet"]
    code, out = _run("experiment", "scaling", "--fractions", "0.5,2", "--trajectories", str(sim.trajectories), *world)
    assert code == 2 and "(0, 1]" in out
    code, out = _run("experiment", "topk", "--k", "0,10", "--model", "base", *world)
    assert code == 2 and ">= 1" in out
    code, out = _run("experiment", "topk", "--k", "five", "--model", "base", *world)
    assert code == 2 and "comma-separated" in out
    code, out = _run("experiment", "topk", "--split", "nope", "--model", "base", *world)
    assert code == 2 and "unknown split 'nope'" in out
    (project / "params.yaml").write_text("experiment:\n  topk:\n    ks: [5]\n")
    code, out = _run("experiment", "topk", "--model", "base", *world)
    assert code == 2 and "topk.ks" in out


def test_settings_parsing():
    assert parse_list("0.1, 0.5", None, float, "--fractions") == (0.1, 0.5)
    assert parse_list(None, [5, 10], int, "--k") == (5, 10)
    experiment = settings_from({"experiment": {"split": "dev", "scaling": {"max_rows": None}}}).experiment
    assert (experiment.split, experiment.scaling.max_rows, experiment.topk.k) == ("dev", None, (5, 10, 20, 50))
    with pytest.raises(ParamsError, match="experiment.sizes: unknown key"):
        settings_from({"experiment": {"sizes": 1}})
