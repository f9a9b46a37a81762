"""Trajectories of held-out questions never become labels: `lrat mine --splits` leaves them out, counts them and
names the questions, so a user's logs that answered the test questions cannot leak them into training."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from lrat.mining.command import mine_command
from lrat.mining.options import resolve_options
from lrat.mining.run import mine


def _qids(path: Path) -> list[str]:
    return [json.loads(line)["query_id"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_held_out_questions_are_left_out_counted_and_named(sim, tmp_path: Path):
    trajectories, corpus = sim
    asked = _qids(trajectories)
    held = sorted(set(asked))[::4]
    everything = mine(trajectories, corpus, tmp_path / "all.jsonl", resolve_options("lrat", {}, {}),
                      progress=False)
    assert everything["held_out"] == {"questions_checked": 0, "leaking_questions": 0, "trajectories_left_out": 0,
                                      "questions": []}
    assert set(held) & set(_qids(tmp_path / "all.jsonl"))  # these questions do give rows when not held out
    logged: list[str] = []
    summary = mine(trajectories, corpus, tmp_path / "kept.jsonl", resolve_options("lrat", {}, {}), progress=False,
                   log=logged.append, held_out={*held, "never-asked"})
    assert not set(held) & set(_qids(tmp_path / "kept.jsonl"))
    assert summary["held_out"]["questions"] == held
    assert summary["held_out"]["trajectories_left_out"] == sum(q in held for q in asked)
    assert summary["trajectories"]["held_out"] == summary["held_out"]["trajectories_left_out"]
    assert summary["trajectories"]["read"] == everything["trajectories"]["read"]
    assert summary["trajectories"]["used"] < everything["trajectories"]["used"]
    assert any(held[0] in line and "left out of the labels" in line for line in logged)


def test_cli_splits_option_warns_even_when_quiet(sim, tmp_path: Path):
    trajectories, corpus = sim
    held = sorted(set(_qids(trajectories)))[:3]
    splits = tmp_path / "splits.json"
    splits.write_text(json.dumps({"train": [], "dev": held[:1], "test": held[1:]}), encoding="utf-8")
    app = typer.Typer()
    app.command()(mine_command)
    done = CliRunner().invoke(app, ["--trajectories", str(trajectories), "--corpus", str(corpus), "--out",
                                    str(tmp_path / "l.jsonl"), "--splits", str(splits), "--metrics",
                                    str(tmp_path / "m.json"), "--params", str(tmp_path / "none.yaml"), "--quiet"])
    assert done.exit_code == 0, done.output
    assert "Warning:" in done.stderr and all(q in done.stderr for q in held)
    assert json.loads((tmp_path / "m.json").read_text())["held_out"]["questions"] == held
