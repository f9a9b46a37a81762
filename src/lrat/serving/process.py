"""A `bentoml serve` process on this machine: started in its own process group, ready when /readyz answers, and
stopped with its workers (SIGTERM to the group, SIGKILL if it lingers). Tests, benchmarks and the flywheel use it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def bentoml_exe() -> str:
    """The bentoml beside this Python (the project's venv), else the one on PATH."""
    return shutil.which("bentoml", path=str(Path(sys.executable).parent)) or shutil.which("bentoml") or "bentoml"


def wait_ready(url: str, proc: subprocess.Popen, timeout: float, log: Path | None = None,
               probe: str = "/readyz") -> None:
    """Until ``url + probe`` answers 200; an error with the log's tail if the process exits or time runs out."""
    deadline = time.monotonic() + timeout

    def tail() -> str:
        return log.read_text(errors="replace")[-3000:] if log and log.exists() else ""

    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0] if isinstance(proc.args, list) else 'server'} exited with "
                               f"{proc.returncode} before {url} was ready:\n{tail()}")
        try:
            with urllib.request.urlopen(f"{url}{probe}", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url}{probe} not ready after {timeout:.0f} s:\n{tail()}")
        time.sleep(0.25)


def stop(proc: subprocess.Popen, grace: float = 20.0, sig: int = signal.SIGTERM) -> int:
    """``sig`` (SIGTERM) to the server's process group, SIGKILL after ``grace`` seconds; the exit status."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass
    return int(proc.returncode if proc.returncode is not None else -1)


def read_counter(url: str, name: str, timeout: float = 10.0) -> float:
    """A Prometheus counter of the service's /metrics (``name`` with its ``_total``), summed over its label sets
    (one per worker or endpoint); 0 when the service has not counted anything yet."""
    import re

    with urllib.request.urlopen(f"{url}/metrics", timeout=timeout) as answer:
        text = answer.read().decode("utf-8", errors="replace")
    return sum(float(v) for v in re.findall(rf"^{re.escape(name)}(?:{{[^}}]*}})? ([0-9.eE+-]+)$", text, re.MULTILINE))


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the process that started it dies (Linux), so a SIGKILLed flywheel
    does not leave its service running."""
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@contextmanager
def serving(target: str, log: Path, host: str = "127.0.0.1", port: int | None = None, timeout: float = 180.0,
            args: list[str] | None = None, env: dict[str, str] | None = None, die_with_parent: bool = False
            ) -> Iterator[tuple[str, subprocess.Popen]]:
    """``bentoml serve TARGET`` (a bento tag or ``module:Class``) until the block ends: ``(url, process)``."""
    port = port or free_port(host)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as sink:
        proc = subprocess.Popen([bentoml_exe(), "serve", target, "--host", host, "--port", str(port), *(args or [])],
                                stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, **(env or {})},
                                preexec_fn=_die_with_parent if die_with_parent and sys.platform == "linux" else None)
        url = f"http://{host}:{port}"
        try:
            wait_ready(url, proc, timeout, log)
            yield url, proc
        finally:
            stop(proc)
