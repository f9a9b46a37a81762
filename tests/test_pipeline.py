"""The DVC pipeline end to end, on a copy of the repository (slow: runs the real `dvc repro`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO


@pytest.mark.slow
def test_dvc_repro_runs_the_pipeline_on_the_embedded_default(tmp_path: Path):
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    work = tmp_path / "repo"
    for name in files:
        if (REPO / name).is_file():
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, work / name)
    for name in ("dvc.lock", "data/ingested", "data/world", "data/runs", "data/labels", "data/judge", "metrics",
                 "reports"):
        target = work / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    subprocess.run(["git", "init", "-q"], cwd=work, check=True)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    dvc = Path(sys.executable).parent / "dvc"
    # up to the label gate: training and evaluation run in `make run` (CI) and are checked by their own tests
    done = subprocess.run([str(dvc), "repro", "validate", "analyze"], cwd=work, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((work / "data" / "ingested" / "summary.json").read_text())
    assert summary["rejected"] == 0 and summary["trajectories"] == 840  # every training question's run
    assert summary["by_format"] == {"bcp": 840}
    world = json.loads((work / "metrics" / "world.json").read_text())
    assert 0.15 <= world["base_retriever"]["test"]["recall@10"] <= 0.7
    # the calibration targets the training runs carry (README, "Simulator calibration")
    analysis = json.loads((work / "reports" / "analysis.json").read_text())
    runs = analysis["runs"]
    assert 0.2 <= runs["all"]["browses_per_search"] <= 0.35
    assert runs["correct"]["browses_per_search"] > runs["incorrect"]["browses_per_search"]
    assert 8 <= runs["correct"]["avg_searches"] <= 16
    assert runs["incorrect"]["avg_searches"] >= 2.0 * runs["correct"]["avg_searches"]
    assert 1.1 <= analysis["browse_by_rank"]["position_bias_ratio"] <= 1.6
    assert analysis["reasoning_length"]["evidence_ratio"] >= 1.3
    assert all((work / "reports" / name).stat().st_size > 1000 for name in ("browse_by_rank.png", "report.md"))
    assert (work / "dvc.lock").exists()
    mining = json.loads((work / "metrics" / "mining.json").read_text())
    assert mining["rows"] > 2000 and mining["evidence_retention"] >= 0.9 > mining["non_evidence_retention"]
    assert json.loads((work / "metrics" / "validation.json").read_text())["success"] is True
    assert (work / "data" / "judge" / "verdicts.sqlite").exists()  # the persistent judge cache
    again = subprocess.run([str(dvc), "repro", "validate", "analyze"], cwd=work, env=env, capture_output=True,
                           text=True, timeout=900)
    assert again.returncode == 0 and "didn't change" in again.stdout + again.stderr

    # naive labels (no judge: every browse a positive) are bad labels: the gate stops the pipeline and says why
    params = (work / "params.yaml").read_text()
    (work / "params.yaml").write_text(params.replace("  judge: heuristic", "  judge: none", 1))
    bad = subprocess.run([str(dvc), "repro"], cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert bad.returncode != 0 and "Running stage 'train'" not in bad.stdout + bad.stderr
    assert "FAILED evidence_beats_non_evidence" in bad.stdout + bad.stderr
    assert json.loads((work / "metrics" / "validation.json").read_text())["success"] is False
