"""Running one measurement of a bench in a fresh process pinned to one core (shared by the benches that compare
throughput on one core): the child is the bench script itself with ``--child ARGS`` and prints its result as the
last line of stdout, as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run_pinned(script: str, *args: str) -> dict:
    cmd = [sys.executable, str(Path(script).resolve()), "--child", *args]
    pin = ["taskset", "-c", "0"] if os.path.exists("/usr/bin/taskset") else []
    done = subprocess.run(pin + cmd, capture_output=True, text=True, cwd=Path.cwd())
    if done.returncode:
        raise SystemExit(f"{Path(script).name} --child {' '.join(args[:2])} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
