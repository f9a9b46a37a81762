"""`import lrat` leaves the Hugging Face switches alone (a program using lrat may download from the Hub), yet lrat's
default path (the packaged MiniLM, local folders, lrat's own save and MLflow log/load) asks no host anything
without them. The network is cut inside the subprocess: every non-loopback name lookup or connection is refused
and recorded."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lrat._offline import HUB_OFFLINE_ENV, OFFLINE_ENV

REPO = Path(__file__).resolve().parent.parent
HUB_PREFIXES = ("HF_", "TRANSFORMERS_")

# Prepended to a subprocess's program: refuses (and records) every name lookup and connection that is not loopback.
NO_NETWORK = '''
import atexit, json, socket
ATTEMPTS = []
_getaddrinfo, _connect = socket.getaddrinfo, socket.socket.connect

def _loopback(host):
    return host in (None, "", "localhost", "::1") or str(host).startswith("127.")

def getaddrinfo(host, *args, **kwargs):
    if not _loopback(host):
        ATTEMPTS.append(f"lookup {host}")
        raise socket.gaierror(f"network cut by the test: {host}")
    return _getaddrinfo(host, *args, **kwargs)

def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
        ATTEMPTS.append(f"connect {address}")
        raise OSError(f"network cut by the test: {address}")
    return _connect(self, address)

socket.getaddrinfo, socket.socket.connect = getaddrinfo, connect
atexit.register(lambda: print("NETWORK_ATTEMPTS=" + json.dumps(ATTEMPTS)))
'''


def _hubless_env(**extra: str) -> dict[str, str]:
    """This environment without any HF_* / TRANSFORMERS_* variable (conftest sets them for tests)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(HUB_PREFIXES)}
    return {**env, **extra}


def _python(code: str, cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_import_lrat_sets_no_hub_switch(tmp_path: Path):
    code = ("import json, os, lrat; print(json.dumps({k: os.environ.get(k) for k in "
            f"{sorted({*HUB_OFFLINE_ENV, *OFFLINE_ENV})!r}}}))")
    seen = json.loads(_python(code, tmp_path, _hubless_env()))
    assert seen["HF_HUB_OFFLINE"] is None and seen["TRANSFORMERS_OFFLINE"] is None
    assert seen["HF_DATASETS_OFFLINE"] is None
    # the telemetry switches stay on by default (setdefault: a user's own value wins)
    assert {k: seen[k] for k in OFFLINE_ENV} == {k: os.environ.get(k, v) for k, v in OFFLINE_ENV.items()}


def test_import_lrat_as_the_brief_states_it(tmp_path: Path):
    code = "import os, lrat; print(os.environ.get('HF_HUB_OFFLINE')); print(os.environ.get('TRANSFORMERS_OFFLINE'))"
    assert _python(code, tmp_path, _hubless_env()).split() == ["None", "None"]


def test_the_test_session_is_offline_and_so_are_its_subprocesses(tmp_path: Path):
    assert all(os.environ.get(k) == v for k, v in HUB_OFFLINE_ENV.items())
    code = "import os; print(os.environ.get('HF_HUB_OFFLINE'), os.environ.get('TRANSFORMERS_OFFLINE'))"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["1", "1"]


def test_lrat_saves_models_without_a_model_card(tmp_path: Path):
    """A model card asks the Hub about the base model; lrat's own save path writes none."""
    from lrat.training.train import _save

    calls: list[tuple[str, dict[str, Any]]] = []

    class Model:
        def save(self, path: str, **kwargs: Any) -> None:
            calls.append((path, kwargs))
            Path(path).mkdir(parents=True)

    _save(Model(), tmp_path / "model")
    assert calls and calls[0][1].get("create_model_card") is False
    assert (tmp_path / "model").is_dir()


def _calls(tree: ast.AST, names: tuple[str, ...]) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in names]


def test_every_model_save_and_log_in_lrat_skips_the_model_card():
    """Any `.save(...)` / `.save_pretrained(...)` / `log_model(...)` of a sentence-transformers model in src/lrat
    passes create_model_card=False (numpy's and torch's `save` are not models' and are left out)."""
    found = []
    for path in sorted((REPO / "src" / "lrat").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in _calls(tree, ("save", "save_pretrained", "log_model")):
            owner = call.func.value  # type: ignore[attr-defined]
            if isinstance(owner, ast.Name) and owner.id in ("np", "numpy", "torch", "faiss", "fig", "plt"):
                continue
            if call.func.attr == "log_model" and "sentence_transformers" not in ast.unparse(owner):  # type: ignore
                continue
            card = {kw.arg: kw.value for kw in call.keywords}.get("create_model_card")
            found.append((f"{path.relative_to(REPO)}:{call.lineno}",
                          isinstance(card, ast.Constant) and card.value is False))
    assert found, "no model save found: the scan no longer sees lrat's save calls"
    assert all(ok for _, ok in found), [where for where, ok in found if not ok]


@pytest.mark.slow
def test_the_default_path_reaches_no_host_without_the_hub_switches(tmp_path: Path):
    """The packaged MiniLM loaded, saved through lrat's save path, loaded again from a *relative* folder (which
    sentence-transformers would otherwise look up on the Hub as a model id), its tokenizer loaded by the length
    counter, a round trip through an MLflow run, and the model cards the trainer's checkpoints write: with no
    HF_* / TRANSFORMERS_* variable and the network cut, not one lookup or connection is attempted."""
    program = NO_NETWORK + '''
import os
from pathlib import Path

import lrat
assert os.environ.get("HF_HUB_OFFLINE") is None and os.environ.get("TRANSFORMERS_OFFLINE") is None

import mlflow
import mlflow.sentence_transformers

from lrat.analyze.run import token_counter
from lrat.retrieval.encoder import fingerprint, load_model
from lrat.tracking import use_experiment
from lrat.training.train import _save

base = load_model("base")
_save(base, Path("models/copy"))
assert not Path("models/copy/README.md").exists()
again = load_model("models/copy")
assert fingerprint(again) == fingerprint(base)
assert token_counter("models/copy")[1]("the ferry to the island") > 0
use_experiment("offline")
with mlflow.start_run() as run:
    mlflow.sentence_transformers.log_model(again, name="model", pip_requirements=["sentence-transformers"],
                                           create_model_card=False)
logged = load_model(f"runs:/{run.info.run_id}/model")
assert fingerprint(logged) == fingerprint(base)
_save(logged, Path("models/logged"))
# what the trainer's checkpoints do: save_pretrained with its model card, for a folder and for an MLflow model
again.save_pretrained("checkpoints/folder")
logged.save_pretrained("checkpoints/mlflow")
assert Path("checkpoints/folder/README.md").is_file() and Path("checkpoints/mlflow/README.md").is_file()
print("DONE")
'''
    env = _hubless_env(MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}",
                       PYTHONPATH=os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")])))
    out = _python(program, tmp_path, env).splitlines()
    assert "DONE" in out
    attempts = json.loads(next(line for line in out if line.startswith("NETWORK_ATTEMPTS="))
                          .removeprefix("NETWORK_ATTEMPTS="))
    assert attempts == [], attempts
