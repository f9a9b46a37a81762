"""Real MLflow runs shaped like `lrat train`'s (params, tags, a logged sentence-transformers model, the folder's
lrat_train.json), built from the tiny local model so registry tests run in seconds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.training.tiny import tiny_model


def training_run(root: Path, name: str, seed: int = 0, *, validation: str = "passed",
                 scores: dict[str, float] | None = None, model: Any = None) -> tuple[Path, str]:
    """(model folder, run id): a run in experiment `lrat` holding ``model`` (default: a tiny one), as `lrat train`
    leaves it."""
    import mlflow
    import mlflow.sentence_transformers

    from lrat.tracking import use_experiment
    from lrat.training.train import pip_requirements

    folder = root / "models" / name
    if model is None:
        model = tiny_model(folder, seed=seed)
    else:
        model.save(str(folder))
    use_experiment("lrat", root)
    with mlflow.start_run(run_name=name, tags={"validation.status": validation}) as run:
        mlflow.log_params({"labels.sha256": f"{seed:064x}", "labels.path": "data/labels/labels.jsonl",
                           "git.commit": "c0ffee" * 6 + "c0ff", "rows.used": 480, "base_model": "base"})
        if scores:
            mlflow.log_metrics({f"eval.{k}": v for k, v in scores.items()})
            mlflow.set_tags({"eval.split": "test", "eval.n_queries": "240"})
        mlflow.sentence_transformers.log_model(model, name="model", pip_requirements=pip_requirements())
    (folder / "lrat_train.json").write_text(json.dumps({"run_id": run.info.run_id, "name": name}))
    return folder, run.info.run_id


def project_params(root: Path, assets: dict[str, Path]) -> None:
    """params.yaml of a project whose base model is the tiny random one (see conftest's ``assets``)."""
    (root / "params.yaml").write_text(
        f"seed: 13\ntrain:\n  base_model: {assets['tiny']}\nretrieval:\n  cache_dir: {assets['cache']}\n"
        "registry:\n  name: lrat-retriever\npromote:\n  split: test\n")


def lrat_cli(*args: str) -> tuple[int, str]:
    """`lrat ARGS` in this process: (exit code, stdout + stderr)."""
    from typer.testing import CliRunner

    from lrat.cli import app

    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes is not None else "")


def write_lock(root: Path, outs: dict[str, tuple[str, str]]) -> None:
    """A dvc.lock with the given ``stage -> (path, md5)`` outputs."""
    import yaml

    stages: dict[str, Any] = {stage: {"cmd": "x", "outs": [{"path": path, "hash": "md5", "md5": md5}]}
                              for stage, (path, md5) in outs.items()}
    (root / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": stages}))


class Flaky:
    """An MlflowClient that dies at its ``fail_at``-th alias call, like a process killed between two registry
    calls; every other call goes to the real client."""

    ALIAS_CALLS = ("set_registered_model_alias", "delete_registered_model_alias")

    def __init__(self, client: Any, fail_at: int) -> None:
        self._client, self._fail_at, self.calls = client, fail_at, 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if name not in self.ALIAS_CALLS:
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == self._fail_at:
                raise KeyboardInterrupt("killed between two registry calls")
            return attr(*args, **kwargs)

        return call
