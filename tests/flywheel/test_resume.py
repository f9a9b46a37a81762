"""`lrat flywheel` end to end on a small world (real `bentoml serve`, MLflow, DVC), killed with SIGKILL while its
service is up in round 2 and resumed: the service dies with it, the registry keeps a valid champion, finished
rounds are not redone, and the result is the one an uninterrupted flywheel reaches."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.flywheel.project import LRAT, lrat, make_project, project_env

pytestmark = pytest.mark.slow
FLYWHEEL = ("flywheel", "--rounds", "2", "--quiet")


def _read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _aliases(root: Path) -> dict[str, str]:
    code = ("import json, mlflow; from mlflow.tracking import MlflowClient; mlflow.set_tracking_uri('sqlite:///"
            f"{root / 'mlflow.db'}'); print(json.dumps(MlflowClient().get_registered_model('lrat-retriever')"
            ".aliases))")
    done = subprocess.run([LRAT[0], "-c", code], capture_output=True, text=True, env=project_env(), check=True)
    return {k: str(v) for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}


def _flywheel_runs(root: Path) -> dict[str, int]:
    """MLflow runs of experiment lrat-flywheel by kind: a parent per round, a child per stage, the training runs."""
    code = ("import json, mlflow; mlflow.set_tracking_uri('sqlite:///" f"{root / 'mlflow.db'}'); "
            "runs = mlflow.search_runs(experiment_names=['lrat-flywheel'], output_format='list'); "
            "print(json.dumps([r.info.run_name for r in runs]))")
    done = subprocess.run([LRAT[0], "-c", code], capture_output=True, text=True, env=project_env(), check=True)
    names = json.loads(done.stdout.strip().splitlines()[-1])
    parents = sum(len(n) == len("round-01") for n in names)
    train = sum(n.endswith("-train") for n in names)
    return {"parents": parents, "train": train, "stages": len(names) - parents - train}


def _kill_while_serving(root: Path, timeout: float = 900) -> dict[str, Any]:
    """Start the flywheel, SIGKILL it once round 2's service is up; the service's record."""
    proc = subprocess.Popen([*LRAT, *FLYWHEEL], cwd=root, env=project_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    record_path = root / "data/flywheel/.stages/round-02/server.json"
    deadline = time.monotonic() + timeout
    try:
        while not record_path.is_file():
            assert proc.poll() is None, f"the flywheel ended ({proc.returncode}) before round 2 served"
            assert time.monotonic() < deadline, "round 2 never started its service"
            time.sleep(0.05)
        record = _read(record_path)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    return record


def test_a_killed_flywheel_resumes_to_the_uninterrupted_result(tmp_path: Path):
    whole, killed = make_project(tmp_path / "whole"), make_project(tmp_path / "killed")
    lrat(whole, *FLYWHEEL)
    expected = _read(whole / "metrics/flywheel.json")

    record = _kill_while_serving(killed)
    deadline = time.monotonic() + 60  # the service gets SIGTERM when its parent dies
    while _group_alive(int(record["pgid"])) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _group_alive(int(record["pgid"])), "the killed flywheel left its service running"
    round_one = _read(whole / "data/flywheel/round-01/promotion.json")["aliases"]
    assert _aliases(killed) == {k: str(v) for k, v in round_one.items()}  # round 1's champion still stands
    finished = (killed / "data/flywheel/.stages/round-01/round.json").stat().st_mtime_ns

    refused = lrat(killed, *FLYWHEEL, check=False)
    assert refused.returncode == 2 and "--resume" in refused.stderr
    lrat(killed, *FLYWHEEL, "--resume")
    got = _read(killed / "metrics/flywheel.json")

    assert (killed / "data/flywheel/.stages/round-01/round.json").stat().st_mtime_ns == finished  # not redone
    assert _flywheel_runs(killed) == _flywheel_runs(whole) == {"parents": 2, "train": 2, "stages": 16}
    assert len(got["rounds"]) == len(expected["rounds"]) == 3
    keys = ("round", "questions", "trajectories", "window_trajectories", "labels", "labels_used", "decision",
            "failed_checks", "served", "challenger", "champion_before", "champion")
    for ours, theirs in zip(got["rounds"], expected["rounds"], strict=True):
        assert {k: ours.get(k) for k in keys} == {k: theirs.get(k) for k in keys}
    for n in (1, 2):
        for part in ("ingested/trajectories.jsonl", "labels/labels.jsonl"):
            rel = f"data/flywheel/round-0{n}/{part}"
            assert (killed / rel).read_bytes() == (whole / rel).read_bytes(), rel

    # what a round holds and says, in either run
    for n, row in enumerate(expected["rounds"][1:], start=1):
        checks = _read(whole / f"data/flywheel/round-0{n}/promotion.json")["checks"]
        passed = all(c["passed"] is not False for c in checks)
        assert (row["decision"] == "promoted") == passed
        assert row["champion"]["version"] == (row["challenger"]["version"] if passed else
                                              row["champion_before"]["version"])
        assert (whole / f"data/flywheel/round-0{n}.dvc").is_file()
        assert row["served"]["version"] == expected["rounds"][n - 1]["champion"]["version"] or (
            row["served"]["name"] != "lrat-retriever" and expected["rounds"][n - 1]["champion"]["version"] is None)
    served = {q for n in (1, 2) for q in _read(whole / f"data/flywheel/.stages/round-0{n}/start.json")["questions"]}
    assert len(served) == 2 * expected["rounds"][1]["questions"]  # no question asked twice
    assert (whole / "reports/flywheel.png").is_file() and "| 2 |" in (whole / "reports/flywheel.md").read_text()
