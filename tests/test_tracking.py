"""What records say about the tracking store: the local store relative to the repository, any other one without
credentials, while MLflow itself keeps the absolute URI."""

from __future__ import annotations

from pathlib import Path

import pytest

from lrat.registry.store import redact
from lrat.tracking import display_uri, tracking_uri

ROOT = Path("/srv/checkout")


@pytest.mark.parametrize(("uri", "shown"), [
    ("http://user:pass@host", "http://host"),
    ("http://user:pass@host:5000/", "http://host:5000/"),
    ("https://token@mlflow.example.org/prefix/api", "https://mlflow.example.org/prefix/api"),
    ("postgresql://u:p@h/db", "postgresql://h/db"),
    ("postgresql+psycopg2://u:p%40ss@db.internal:5432/mlflow", "postgresql+psycopg2://db.internal:5432/mlflow"),
    ("mysql://u:p@ss@h/db", "mysql://h/db"),  # an unescaped @ in the password: the host is after the last one
    ("http://host:5000", "http://host:5000"),
    ("http://host/runs/a@b", "http://host/runs/a@b"),  # an @ in the path is not a user
    ("databricks", "databricks"),
    ("databricks://profile", "databricks://profile"),
])
def test_remote_stores_are_shown_as_given_without_credentials(uri: str, shown: str):
    assert display_uri(uri, ROOT) == shown


@pytest.mark.parametrize(("uri", "shown"), [
    ("sqlite:////srv/checkout/mlflow.db", "sqlite:///mlflow.db"),
    ("sqlite:////srv/checkout/stores/m.db?mode=ro", "sqlite:///stores/m.db?mode=ro"),
    ("sqlite:///mlflow.db", "sqlite:///mlflow.db"),  # already relative
    ("sqlite:////srv/ci/mlflow.db", "sqlite:///../ci/mlflow.db"),  # outside the repository: relative all the same
    ("sqlite:///:memory:", "sqlite:///:memory:"),
    ("file:///srv/checkout/mlruns", "mlruns"),
    ("/srv/checkout/mlruns", "mlruns"),
])
def test_local_stores_are_shown_relative_to_the_repository(uri: str, shown: str):
    assert display_uri(uri, ROOT) == shown


def test_the_default_store_is_absolute_for_mlflow_and_relative_in_records(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = tracking_uri(tmp_path)
    assert uri == f"sqlite:///{tmp_path.resolve() / 'mlflow.db'}" and uri.startswith("sqlite:////")
    assert display_uri(uri, tmp_path) == "sqlite:///mlflow.db"
    monkeypatch.chdir(tmp_path)
    assert display_uri(tracking_uri()) == redact(tracking_uri()) == "sqlite:///mlflow.db"  # root: the cwd


def test_redact_strips_credentials_for_messages():
    assert redact("http://alice:s3cret@tracking:5000") == "http://tracking:5000"
