"""The records `lrat register` and `lrat promote` leave (metrics/register.json, metrics/promotion.json,
reports/promotion.md and the promotion run's copies of both) are portable: they name the local store as
`sqlite:///mlflow.db` and hold no path of the machine, whether the store is the default one or
$MLFLOW_TRACKING_URI names it by its absolute path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lrat.cli import app

from .helpers import training_run

pytestmark = pytest.mark.slow


def _lrat(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else "")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lrat.simulate.export import write_world
    from lrat.simulate.store import save_state
    from lrat.simulate.world import generate_world

    out = tmp_path_factory.mktemp("records-world") / "world"
    generated = generate_world(5, n_docs=200, n_questions=100)
    write_world(generated, out)
    save_state(generated, out)
    return out


@pytest.mark.parametrize("store", ["default", "absolute-env"])
def test_registry_records_hold_no_machine_path(store: str, tmp_path: Path, world: Path,
                                               monkeypatch: pytest.MonkeyPatch):
    import shutil

    import mlflow

    from tests.training.tiny import tiny_model

    root = tmp_path.resolve()
    monkeypatch.chdir(root)
    if store == "default":
        monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    else:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{root / 'mlflow.db'}")
    shutil.copytree(world, root / "data" / "world")
    tiny_model(root / "models" / "base", seed=7)
    (root / "params.yaml").write_text("seed: 13\ntrain:\n  base_model: models/base\nretrieval:\n"
                                      "  cache_dir: .cache/embeddings\nregistry:\n  name: lrat-retriever\n"
                                      "promote:\n  split: test\n")
    training_run(root, "lrat", seed=1)

    code, out = _lrat("register", "--model-dir", "models/lrat", "--quiet")
    assert code == 0, out
    code, out = _lrat("promote", "--world", "data/world", "--allow-refusal", "--quiet")
    assert code == 0, out
    assert (root / "mlflow.db").is_file()

    record = json.loads((root / "metrics" / "promotion.json").read_text())
    assert record["decision"] in ("promoted", "refused") and record["promotion_run_id"]
    assert record["registry"]["tracking_uri"] == "sqlite:///mlflow.db"
    report = (root / "reports" / "promotion.md").read_text()
    assert "- tracking store: `sqlite:///mlflow.db`" in report
    run = record["promotion_run_id"]
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    texts = {
        "metrics/register.json": (root / "metrics" / "register.json").read_text(),
        "metrics/promotion.json": (root / "metrics" / "promotion.json").read_text(),
        "reports/promotion.md": report,
        "run promotion.json": mlflow.artifacts.load_text(f"runs:/{run}/promotion.json"),
        "run promotion.md": mlflow.artifacts.load_text(f"runs:/{run}/promotion.md"),
    }
    for name, text in texts.items():
        assert str(root) not in text and str(tmp_path) not in text, name
        assert "sqlite:////" not in text, name
