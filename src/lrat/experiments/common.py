"""What both experiments share: their settings (`experiment:` in params.yaml), the held-out questions every model
is scored on, whether that benchmark supports the simulated agent, where a missing input comes from, and turning a
model spec (an MLflow alias included) into a folder that is loaded from disk by every evaluation."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lrat.settings import Agent, Encoding, Settings

TRAJECTORIES_HINT = ("the normalized trajectories, written by `lrat ingest` (`make run`, or `dvc repro ingest` on "
                     "your own logs); or give --trajectories")
WORLD_HINT = ("the benchmark folder: `make run` writes data/world; for your own logs give --world with "
              "corpus.jsonl, queries.tsv, qrel_evidence.txt and splits.json")


def parse_list(text: str | None, default: Any, kind: type, option: str) -> tuple[Any, ...]:
    """``"0.1,0.25"`` (a flag) or a YAML list (params) → a tuple of ``kind``; None means ``default``."""
    value = default if text is None else text
    items = value.split(",") if isinstance(value, str) else list(value or [])
    try:
        out = tuple(kind(str(item).strip()) for item in items if str(item).strip())
    except ValueError:
        raise ValueError(f"{option}: expected a comma-separated list of numbers, got {value!r}") from None
    if not out:
        raise ValueError(f"{option}: give at least one value")
    return out


def require_file(path: Path, what: str) -> None:
    """A missing input is a usage error naming the file and what produces it (the CLI exits 2)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path} not found: {what}")


def require_world(world: Path) -> None:
    from lrat.evaluation.offline import WORLD_FILES

    if not world.is_dir():
        raise FileNotFoundError(f"{world} not found: {WORLD_HINT}")
    missing = [name for name in WORLD_FILES if not (world / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{world}: missing {', '.join(missing)} ({WORLD_HINT})")


def questions_sha256(qids: list[str]) -> str:
    """Which questions a number comes from, independent of the benchmark files' other contents."""
    return hashlib.sha256("\n".join(qids).encode()).hexdigest()


def relative_gain(new: float | None, old: float | None) -> float | None:
    """(new − old) / old, rounded; None where it is undefined (no value, or old = 0)."""
    if new is None or old is None or old == 0:
        return None
    return round((new - old) / old, 4)


@dataclass(frozen=True)
class Bench:
    """The held-out questions and how every model searches them: the same for all models an experiment compares
    (same split, same agent seed, same cached encodings, same encoding)."""

    world: Path
    split: str = "test"
    seed: int = 13
    cache_dir: Path | None = None
    encoding: Encoding = Encoding()
    agent: Agent = field(default_factory=Agent)  # params.yaml `agent:`
    use_agent: bool = True

    def agent_skipped(self) -> str | None:
        """None when the simulated agent can answer this benchmark's questions, else why not (goes in the JSON)."""
        from lrat.simulate.store import not_simulated

        if not self.use_agent:
            return "agent-level evaluation switched off (--no-agent)"
        why = not_simulated(self.world)
        return f"{why}: offline metrics only" if why else None

    def agent_config(self, **overrides: Any) -> Agent:
        return self.agent.model_copy(update=overrides)


def bench_from_settings(settings: Settings, world: Path, split: str | None = None, seed: int | None = None,
                        use_agent: bool = True) -> Bench:
    """The held-out questions and search settings every model of an experiment shares; flags over params.yaml."""
    return Bench(world=world, split=split or settings.experiment.split,
                 seed=seed if seed is not None else settings.seed, cache_dir=settings.retrieval.cache_dir,
                 encoding=settings.retrieval.encoding, agent=settings.agent, use_agent=use_agent)


def resolve_model(spec: str, dst: Path) -> tuple[str, dict[str, Any]]:
    """A spec every evaluation can load from disk, and what it was: ``models:/NAME@ALIAS`` is looked up in the
    registry first, so a missing champion is a clear error rather than an MLflow traceback."""
    from lrat.retrieval.encoder import is_mlflow_uri, materialize

    info: dict[str, Any] = {"spec": spec}
    if is_mlflow_uri(spec):
        from lrat.tracking import DEFAULT_DB, tracking_uri

        if not os.environ.get("MLFLOW_TRACKING_URI") and not Path(DEFAULT_DB).is_file():
            raise FileNotFoundError(f"{DEFAULT_DB} not found: {spec} lives in the MLflow store that `make run` "
                                    "creates (or set MLFLOW_TRACKING_URI); or give a model folder")
        if spec.startswith("models:/") and "@" in spec:
            from lrat.registry.store import Registry, redact

            name, alias = spec[len("models:/"):].split("@", 1)
            version = Registry(name).by_alias(alias)
            if version is None:
                raise FileNotFoundError(
                    f"{spec}: no version of {name!r} has the alias @{alias} in the MLflow registry "
                    f"({redact(tracking_uri())}); `make run` (stages register and promote) or `lrat promote` sets "
                    "@champion, or give a model folder")
            info.update(version=version.version, run_id=version.run_id)
    else:
        from lrat.retrieval.specs import check_spec

        check_spec(spec)
    return materialize(spec, dst), info


def finish_report(report: dict[str, Any], log_runs: Any, started: float, out: Path, plot: Path | None,
                  draw: str) -> dict[str, Any]:
    """The same last steps for every experiment: its MLflow runs, the time, the JSON, the figure
    (``draw`` names the function in lrat.experiments.plots)."""
    import time

    from lrat.io import write_json

    report["mlflow"]["runs"] = log_runs(report, report["mlflow"]["experiment"])
    report["seconds"] = round(time.perf_counter() - started, 1)
    write_json(out, report)
    if plot is not None:
        from lrat.experiments import plots

        getattr(plots, draw)(report, plot)
    return report
