"""The flywheel's bookkeeping without a service: question batches, settings, the folder's plan and markers, the
record of a running service, and the report."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lrat.flywheel.config import check_flywheel
from lrat.flywheel.questions import permuted, round_questions
from lrat.flywheel.report import build, draw, markdown, paper_shape
from lrat.flywheel.stages import window
from lrat.flywheel.state import Rounds
from lrat.settings import Flywheel, settings_from

QIDS = [str(i) for i in range(1, 101)]


def test_rounds_ask_disjoint_batches_that_do_not_depend_on_how_many_rounds_run():
    batches = [round_questions(QIDS, 13, 30, n) for n in (1, 2, 3)]
    assert all(len(b) == 30 for b in batches)
    assert len(set().union(*map(set, batches))) == 90
    assert round_questions(QIDS, 13, 30, 2) == batches[1]
    assert permuted(QIDS, 13) != permuted(QIDS, 14)
    assert sorted(permuted(QIDS, 13), key=int) == QIDS


def test_a_pool_too_small_for_the_rounds_says_what_to_change():
    with pytest.raises(ValueError, match=r"round 4 needs 120 fresh questions .* at most 25"):
        round_questions(QIDS, 13, 30, 4)


def test_window_takes_the_last_rounds_or_all():
    assert window(Flywheel(window=1), 3) == [3]
    assert window(Flywheel(window=2), 3) == [2, 3]
    assert window(Flywheel(window=None), 3) == [1, 2, 3]


def flywheel_config(section: dict) -> Flywheel:
    """params.yaml's `flywheel:` as `lrat flywheel` reads it."""
    return check_flywheel(settings_from({"flywheel": section}).flywheel)


@pytest.mark.parametrize(("section", "message"), [
    ({"rounds_per_day": 3}, "flywheel.rounds_per_day: unknown key"),
    ({"init": "random"}, "flywheel.init: 'random' is not valid: expected one of"),
    ({"agent": "llm"}, "set flywheel.llm_url and flywheel.llm_model"),
    ({"questions_per_round": 0}, "questions_per_round: 0 is not valid: expected a whole number >= 1"),
    ({"window": -1}, "window: -1 is not valid: expected a whole number >= 1"),
    ({"agent": "none"}, "set flywheel.collect: service"),
    ({"agent": "llm", "llm_url": "http://x/v1", "llm_model": "m", "collect": "service"},
     "`lrat agent` does not tag its calls"),
    ({"collect": "logs"}, "flywheel.collect: 'logs' is not valid: expected one of"),
    ({"collect": "service", "service_seconds": 0}, "service_seconds: 0 is not valid"),
])
def test_bad_settings_are_named(section: dict, message: str):
    with pytest.raises(ValueError, match=message):
        flywheel_config(section)


def test_collecting_from_the_service_is_part_of_the_plan():
    assert "collect" not in flywheel_config({}).plan()  # folders started before it existed still resume
    cfg = flywheel_config({"collect": "service", "agent": "none", "service_trajectories": 50})
    assert cfg.plan()["collect"] == "service" and cfg.service_trajectories == 50


def test_settings_keep_nulls_and_paths():
    cfg = flywheel_config({"dir": "x/fw", "window": None, "max_rows": None, "questions_per_round": 5})
    assert (cfg.dir, cfg.window, cfg.max_rows, cfg.questions_per_round) == (Path("x/fw"), None, None, 5)


def test_a_folder_is_resumed_only_with_its_own_plan(tmp_path: Path):
    rounds = Rounds(tmp_path / "fw")
    plan = {"questions_per_round": 10, "window": 1}
    rounds.check_plan(plan, resume=False)
    rounds.finish(1, "collect", {"questions": 10})
    assert rounds.done(1, "collect") == {"questions": 10} and rounds.done(1, "mine") is None
    with pytest.raises(ValueError, match="pass --resume"):
        rounds.check_plan(plan, resume=False)
    with pytest.raises(ValueError, match=r"window 1 -> 2"):
        rounds.check_plan({**plan, "window": 2}, resume=True)
    rounds.check_plan(plan, resume=True)
    assert rounds.started() == [1]
    assert not (rounds.round_dir(1) / ".stages").exists()  # markers stay out of the DVC-tracked round folder


def test_resume_on_a_new_folder_starts_it(tmp_path: Path):
    """`make flywheel` always passes --resume: the first run starts the flywheel, later ones continue it."""
    rounds = Rounds(tmp_path / "fw")
    rounds.check_plan({"window": 1}, resume=True)
    assert (tmp_path / "fw" / "plan.json").is_file()
    rounds.check_plan({"window": 1}, resume=True)


def test_a_service_left_by_a_killed_flywheel_is_stopped(tmp_path: Path):
    rounds = Rounds(tmp_path / "fw")
    # a stand-in whose command line names bentoml, in its own process group like a real service
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "bentoml"],
                            start_new_session=True)
    try:
        _wait_for_exec(proc.pid)
        rounds.record_server(2, proc.pid, "http://127.0.0.1:1")
        assert rounds.reap_servers(log=lambda _: None) == 1
        assert proc.wait(timeout=30) == -signal.SIGTERM
        assert not (rounds.bookkeeping(2) / "server.json").exists()
        assert rounds.reap_servers(log=lambda _: None) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_recorded_pid_that_is_not_a_service_is_left_alone(tmp_path: Path):
    rounds = Rounds(tmp_path / "fw")
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    try:
        _wait_for_exec(proc.pid)
        rounds.record_server(1, proc.pid, "http://127.0.0.1:1")
        assert rounds.reap_servers(log=lambda _: None) == 0
        time.sleep(0.2)
        assert proc.poll() is None
    finally:
        os.killpg(proc.pid, signal.SIGKILL)


def _wait_for_exec(pid: int) -> None:
    deadline = time.monotonic() + 10
    while not Path(f"/proc/{pid}/cmdline").read_bytes() and time.monotonic() < deadline:
        time.sleep(0.02)


def _side(version: str | None, recall: float, success: float) -> dict:
    return {"version": version, "offline": {"recall@10": recall, "ndcg@10": recall / 2},
            "agent": {"success": success, "avg_search_calls": 20.0}}


def _row(n: int, decision: str, before: dict, challenger: dict) -> dict:
    return {"round": n, "questions": 10, "served": {"name": "lrat-retriever", "version": before["version"]},
            "trajectories": 10, "window_trajectories": 10, "labels": 40, "labels_used": 40,
            "challenger": challenger, "champion_before": before, "decision": decision,
            "failed_checks": [] if decision == "promoted" else ["recall_at_10_gain"],
            "champion": challenger if decision == "promoted" else before, "seconds": 5.0}


def test_report_rows_start_from_the_first_round_s_champion(tmp_path: Path):
    reference = {"split": "test", "n_queries": 40, "base": _side(None, 0.2, 0.5),
                 "oracle": {"agent": {"success": 0.8}}}
    v1, v2, v3 = _side("1", 0.3, 0.6), _side("2", 0.35, 0.62), _side("3", 0.33, 0.6)
    rows = [_row(1, "promoted", v1, v2), _row(2, "refused", v2, v3)]
    report = build({"registry": "lrat-retriever"}, reference, rows)
    assert [r["round"] for r in report["rounds"]] == [0, 1, 2]
    assert report["summary"]["recall@10"] == [0.3, 0.35, 0.35]
    assert report["summary"]["promotions"] == 1 and report["summary"]["champion_version"] == "2"
    table = markdown(report)
    assert "| 1 | v1 |" in table and "refused (recall_at_10_gain)" in table
    draw(report, tmp_path / "fw.png")
    assert (tmp_path / "fw.png").read_bytes()[:4] == b"\x89PNG"


def test_the_paper_shape_rises_like_a_log_to_62_over_49():
    shape = paper_shape(5)
    assert shape[0] == 1 and shape[-1] == pytest.approx(62 / 49)
    steps = [b - a for a, b in zip(shape, shape[1:], strict=False)]
    assert all(s > 0 for s in steps) and steps == sorted(steps, reverse=True)
