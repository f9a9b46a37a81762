"""A flywheel round with `flywheel.collect: service`: the champion is served with capture on, the simulated agent
calls it over HTTP tagging its calls, and the round ingests what the service recorded instead of the agent's run
files. Set beside the same round collected from the agent's run files, it mines the same positives from the same
questions and goes through the same promotion gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.flywheel.project import lrat, make_project

pytestmark = pytest.mark.slow


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _positives(root: Path) -> set[tuple[str, str, bool]]:
    rows = (root / "data/flywheel/round-01/labels/labels.jsonl").read_text(encoding="utf-8").splitlines()
    return {(r["query_id"], r["pos_id"], r["satisfied"]) for r in map(json.loads, rows)}


def test_a_service_round_promotes_or_refuses_like_the_agent_round(tmp_path: Path) -> None:
    service_root = make_project(tmp_path / "service", collect="service", questions_per_round=16)
    agent_root = make_project(tmp_path / "agent", questions_per_round=16)
    by_service = _read_report(lrat(service_root, "flywheel", "--rounds", "1", "--quiet", "--json").stdout)
    by_agent = _read_report(lrat(agent_root, "flywheel", "--rounds", "1", "--quiet", "--json").stdout)

    round_dir = service_root / "data/flywheel/round-01"
    assert not (round_dir / "runs").exists() and sorted((round_dir / "capture").glob("*.jsonl"))
    assert not list((round_dir / "capture").glob("*.open"))
    ingested = _read(round_dir / "ingested" / "summary.json")
    assert ingested["by_format"] == {"service": 16} and ingested["by_status"].get("completed", 0) >= 1
    collect = _read(service_root / "data/flywheel/.stages/round-01/collect.json")
    assert collect["collect"] == "service" and collect["finished"] == 16 and collect["dropped"] == 0

    service_row, agent_row = by_service["rounds"][1], by_agent["rounds"][1]
    assert _read(service_root / "data/flywheel/.stages/round-01/start.json")["questions"] == \
        _read(agent_root / "data/flywheel/.stages/round-01/start.json")["questions"]
    assert service_row["trajectories"] == agent_row["trajectories"] == 16
    assert service_row["collect"]["success"] == agent_row["collect"]["success"]
    assert _positives(service_root) == _positives(agent_root)  # same browses, same judge verdicts
    assert service_row["labels"] == agent_row["labels"]
    # the same gate: its checks, on a challenger trained from the same positives (negatives come in ranked rather
    # than displayed order, so the two challengers need not be identical)
    assert service_row["decision"] in ("promoted", "refused") and agent_row["decision"] in ("promoted", "refused")
    checks = [_read(root / "data/flywheel/round-01/promotion.json")["checks"] for root in (service_root, agent_root)]
    assert [c["name"] for c in checks[0]] == [c["name"] for c in checks[1]]
    assert service_row["failed_checks"] == [c["name"] for c in checks[0] if c["passed"] is False]


def _read_report(stdout: str) -> dict[str, Any]:
    report = json.loads(stdout)
    report["rounds"] = {row["round"]: row for row in report["rounds"]}
    return report
