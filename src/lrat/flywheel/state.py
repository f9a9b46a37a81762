"""A flywheel folder on disk: the plan it is committed to, one folder per round, a marker per finished stage, and
the record of a running service so a killed flywheel's server is found and stopped by the next run."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from lrat.io import write_json

PLAN, MARKERS, SERVER, ROUND_DONE = "plan.json", ".stages", "server.json", "round.json"


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


class Rounds:
    """Where round ``n``'s stages leave their results; a stage counts as done only once its marker is written,
    after everything it produced is in place (markers are written atomically)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def round_dir(self, n: int) -> Path:
        return self.root / f"round-{n:02d}"

    def bookkeeping(self, n: int) -> Path:
        """Markers and the service record live beside the round's folder, not in it: the folder is a DVC output
        that must not change once it is added."""
        return self.root / MARKERS / f"round-{n:02d}"

    def marker(self, n: int, stage: str) -> Path:
        return self.bookkeeping(n) / f"{stage}.json"

    def done(self, n: int, stage: str) -> dict[str, Any] | None:
        path = self.marker(n, stage)
        return read_json(path) if path.is_file() else None

    def finish(self, n: int, stage: str, result: dict[str, Any]) -> dict[str, Any]:
        write_json(self.marker(n, stage), result)
        return result

    def finished_round(self, n: int) -> dict[str, Any] | None:
        path = self.bookkeeping(n) / ROUND_DONE
        return read_json(path) if path.is_file() else None

    def started(self) -> list[int]:
        return sorted(int(p.name.split("-")[1]) for p in (self.root / MARKERS).glob("round-[0-9][0-9]")
                      if p.is_dir())

    # the plan ------------------------------------------------------------------------------------------------

    def check_plan(self, plan: dict[str, Any], resume: bool) -> None:
        """A new folder takes the plan; an existing one must be resumed with the same plan."""
        path = self.root / PLAN
        if not path.is_file():
            if self.started():
                raise ValueError(f"{self.root} holds rounds but no {PLAN}: move it aside or pass --restart")
            write_json(path, plan)
            return
        if not resume:
            done = [n for n in self.started() if self.finished_round(n)]
            raise ValueError(f"{self.root} already holds a flywheel ({len(done)} finished round(s)): pass --resume to "
                             "continue it, or --restart to start a new one there")
        old = read_json(path)
        changed = {k: (old.get(k), v) for k, v in plan.items() if old.get(k) != v}
        if changed:
            what = ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in changed.items())
            raise ValueError(f"{self.root} was started with other settings ({what}): resume with the same flywheel "
                             "settings, or --restart")

    # the service ---------------------------------------------------------------------------------------------

    def record_server(self, n: int, pid: int, url: str) -> None:
        write_json(self.bookkeeping(n) / SERVER, {"pid": pid, "pgid": pid, "url": url, "started": time.time()})

    def forget_server(self, n: int) -> None:
        (self.bookkeeping(n) / SERVER).unlink(missing_ok=True)

    def reap_servers(self, log: Any = print) -> int:
        """Stop any service a killed flywheel left running (its process group); how many were found."""
        found = 0
        for path in (self.root / MARKERS).glob(f"round-*/{SERVER}"):
            record = read_json(path)
            if _is_bentoml(int(record["pid"])):
                found += 1
                log(f"stopping the service a previous flywheel left running (pid {record['pid']}, {record['url']})")
                _kill_group(int(record["pgid"]))
            path.unlink(missing_ok=True)
        return found


def _is_bentoml(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"bentoml" in cmdline


def _group_alive(pgid: int) -> bool:
    """Any process of the group that is not a zombie (a zombie is dead, only not yet reaped by its parent)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _kill_group(pgid: int, grace: float = 20.0) -> None:
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return
        time.sleep(0.2)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
