"""A real `mlflow server` process on 127.0.0.1 (SQLite backend store, local artifact root), for tests that go
through a tracking server the way a team's CI does."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lrat.serving.process import free_port, stop, wait_ready


@contextmanager
def mlflow_server(root: Path, timeout: float = 180.0) -> Iterator[str]:
    """Start the server, wait for /health, yield its URL; stop the whole process group afterwards."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = (root / "server.log").open("w")
    cmd = [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", f"sqlite:///{(root / 'server.db').resolve()}",
           "--artifacts-destination", str((root / "server-artifacts").resolve()), "--workers", "1"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "MLFLOW_TRACKING_URI": ""})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc, timeout, root / "server.log", probe="/health")
        yield url
    finally:
        stop(proc, grace=30)
        log.close()
