"""A team's shared services on 127.0.0.1, for the scale-out tests: PostgreSQL (Debian's `initdb`/`postgres`), moto
in server mode standing in for S3, and `mlflow server` on both (PostgreSQL backend store, artifacts proxied to the
S3 bucket). Each is a context manager that stops what it started, also when the block fails; a server that does not
come up in time raises with the tail of its log.

    with postgres(tmp / "pg") as pg, moto_s3(tmp / "s3") as s3:
        s3.create_bucket("lrat")
        with mlflow_server(tmp / "mlflow", pg.database("mlflow"), "s3://lrat/mlartifacts", s3) as url:
            ...
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lrat.serving.process import free_port, stop, wait_ready

HOST = "127.0.0.1"
# moto accepts any credentials; they only have to be present (and never real)
DUMMY_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
VENV_BIN = Path(sys.executable).parent


def _tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log.exists() else "(no log)"


def _wait(what: str, ready: Callable[[], bool], proc: subprocess.Popen, log: Path, timeout: float) -> None:
    """Until ``ready()``; an error with the log's tail when the process exits or the deadline passes."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before it was ready; log {log}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout:.0f} s; log {log}:\n{_tail(log)}")
        time.sleep(0.25)


# PostgreSQL -----------------------------------------------------------------------------------------------------

def postgres_bin(name: str) -> str | None:
    """A PostgreSQL server binary: on PATH, else under Debian's /usr/lib/postgresql/<version>/bin (newest first)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: [int(x) if x.isdigit() else 0 for x in Path(p).parts[-3].split(".")])
    return candidates[-1] if candidates else None


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str

    def database(self, name: str) -> str:
        """The SQLAlchemy URI (psycopg2 driver) of database ``name``, created if missing."""
        conn = self.connect("postgres")
        try:
            conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{name}"

    def connect(self, database: str) -> Any:
        import psycopg2

        return psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=database, connect_timeout=5)

    def query(self, database: str, sql: str) -> list[tuple]:
        conn = self.connect(database)
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
                return list(cur.fetchall())
        finally:
            conn.close()


def _as_postgres_user() -> dict[str, Any]:
    """Popen arguments that run a server as the `postgres` system user when we are root (postgres refuses root);
    nothing otherwise. Skips the test when that is impossible."""
    if os.geteuid() != 0:
        return {}
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no `postgres` system user to run PostgreSQL as (postgres refuses "
                    "root; install Debian's postgresql package, which creates it)")
    try:  # can we actually switch user here (a container may lack CAP_SETUID)?
        subprocess.run(["true"], user=account.pw_uid, group=account.pw_gid, extra_groups=[], check=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"running as root and cannot switch to the `postgres` user to start PostgreSQL: {exc}")
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}


@contextmanager
def postgres(log_dir: Path, timeout: float = 90.0) -> Iterator[Postgres]:
    """A throw-away PostgreSQL cluster on 127.0.0.1:<free port> (sockets in its own temp dir), superuser `lrat`,
    trust authentication; fast shutdown and removal afterwards. Skips when the binaries are absent."""
    initdb, server = postgres_bin("initdb"), postgres_bin("postgres")
    if not initdb or not server:
        pytest.skip("PostgreSQL is not installed (no initdb/postgres on PATH or under /usr/lib/postgresql/*/bin); "
                    "`apt-get install postgresql` (.ci/run does this on CI)")
    as_user = _as_postgres_user()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "postgres.log"
    # not under pytest's tmp_path: as root that is a 0700 directory the postgres user cannot enter
    root = Path(tempfile.mkdtemp(prefix="lrat-pg-"))
    proc: subprocess.Popen | None = None
    try:
        if as_user:
            os.chown(root, as_user["user"], as_user["group"])
        data, user, port = root / "data", "lrat", free_port(HOST)
        env = {**os.environ, "LC_ALL": "C", "HOME": str(root)}
        with log.open("w") as sink:
            done = subprocess.run([initdb, "-D", str(data), "-U", user, "--auth=trust", "--encoding=UTF8",
                                   "--no-sync"], stdout=sink, stderr=subprocess.STDOUT, cwd=root, env=env,
                                  timeout=timeout, **as_user)
        if done.returncode != 0:
            raise RuntimeError(f"initdb exited with {done.returncode}; log {log}:\n{_tail(log)}")
        sink = log.open("a")
        try:
            proc = subprocess.Popen(
                [server, "-D", str(data), "-h", HOST, "-p", str(port), "-k", str(root),
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "shared_buffers=16MB", "-c", "max_connections=40"],
                stdout=sink, stderr=subprocess.STDOUT, cwd=root, env=env, start_new_session=True, **as_user)
        finally:
            sink.close()
        pg = Postgres(HOST, port, user)

        def ready() -> bool:
            try:
                pg.connect("postgres").close()
            except Exception:  # noqa: BLE001 - psycopg2.OperationalError until it accepts connections
                return False
            return True

        _wait(f"postgres on {HOST}:{port}", ready, proc, log, timeout)
        yield pg
    finally:
        if proc is not None:
            stop(proc, grace=30.0, sig=signal.SIGINT)  # SIGINT: PostgreSQL's "fast" shutdown
        shutil.rmtree(root, ignore_errors=True)


# S3 (moto) -------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class S3:
    endpoint: str

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=DUMMY_AWS["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=DUMMY_AWS["AWS_SECRET_ACCESS_KEY"],
                            region_name=DUMMY_AWS["AWS_DEFAULT_REGION"])

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        out: list[str] = []
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            out.extend(item["Key"] for item in page.get("Contents", []))
        return out

    def env(self) -> dict[str, str]:
        """What a process that talks to this S3 directly needs (the mlflow server, dvc): endpoint and credentials."""
        return {**DUMMY_AWS, "MLFLOW_S3_ENDPOINT_URL": self.endpoint}


@contextmanager
def moto_s3(log_dir: Path, timeout: float = 60.0) -> Iterator[S3]:
    """moto in server mode on 127.0.0.1:<free port>, an in-memory S3."""
    exe = shutil.which("moto_server", path=str(VENV_BIN))
    cmd = [exe] if exe else [sys.executable, "-m", "moto.server"]
    port = free_port(HOST)
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "moto.log"
    with log.open("w") as sink:
        proc = subprocess.Popen([*cmd, "-H", HOST, "-p", str(port)], stdout=sink, stderr=subprocess.STDOUT,
                                start_new_session=True, env={**os.environ, **DUMMY_AWS})
    s3 = S3(f"http://{HOST}:{port}")
    try:
        def ready() -> bool:
            try:
                s3.client().list_buckets()
            except Exception:  # noqa: BLE001 - connection refused until it listens
                return False
            return True

        _wait(f"moto_server on {HOST}:{port}", ready, proc, log, timeout)
        yield s3
    finally:
        stop(proc, grace=30.0)


# MLflow ----------------------------------------------------------------------------------------------------------

@contextmanager
def mlflow_server(log_dir: Path, backend_store_uri: str, artifacts_destination: str, s3: S3 | None = None,
                  timeout: float = 240.0) -> Iterator[str]:
    """`mlflow server` on 127.0.0.1:<free port> with ``backend_store_uri`` and artifacts proxied to
    ``artifacts_destination`` (the server alone talks to ``s3``); yields its URL once /health answers."""
    port = free_port(HOST)
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "mlflow.log"
    env = {**os.environ, "MLFLOW_TRACKING_URI": "", **(s3.env() if s3 else {})}
    cmd = [str(VENV_BIN / "mlflow"), "server", "--host", HOST, "--port", str(port), "--workers", "1",
           "--backend-store-uri", backend_store_uri, "--serve-artifacts",
           "--artifacts-destination", artifacts_destination]
    with log.open("w") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True, env=env,
                                cwd=log_dir)
    url = f"http://{HOST}:{port}"
    try:
        try:
            wait_ready(url, proc, timeout, log, probe="/health")
        except RuntimeError as exc:
            raise RuntimeError(f"mlflow server: {exc}") from None
        yield url
    finally:
        stop(proc, grace=30.0)
