"""params.yaml `flywheel:` → FlywheelConfig; unknown keys and impossible values are errors, not defaults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INITS = ("champion", "base")
AGENTS = ("simulated", "llm")


@dataclass(frozen=True)
class FlywheelConfig:
    dir: Path = Path("data/flywheel")
    experiment: str = "lrat-flywheel"
    split: str = "train"                  # the question pool
    questions_per_round: int = 280        # fresh questions per round; no two rounds share one
    window: int | None = 1                # rounds whose trajectories train a challenger (None = all so far)
    init: str = "champion"                # start each challenger from the champion, or from train.base_model
    max_rows: int | None = None           # training rows per round (None = all the window's rows)
    agent: str = "simulated"              # simulated | llm (`lrat agent` against llm_url)
    llm_url: str | None = None
    llm_model: str | None = None
    dvc: bool = True                      # `dvc add` each finished round's folder
    metrics: Path = Path("metrics/flywheel.json")
    plot: Path = Path("reports/flywheel.png")
    report: Path = Path("reports/flywheel.md")

    def round_dir(self, n: int) -> Path:
        return self.dir / f"round-{n:02d}"

    def plan(self) -> dict[str, Any]:
        """What a flywheel folder is committed to: resuming with other values would mix two experiments."""
        return {"split": self.split, "questions_per_round": self.questions_per_round, "window": self.window,
                "init": self.init, "max_rows": self.max_rows, "agent": self.agent}


def flywheel_config(section: dict[str, Any]) -> FlywheelConfig:
    fields = {f.name: f for f in dataclasses.fields(FlywheelConfig)}
    unknown = sorted(set(section) - set(fields))
    if unknown:
        raise ValueError(f"unknown flywheel settings in params.yaml: {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for key, value in section.items():
        if key in ("dir", "metrics", "plot", "report"):
            values[key] = Path(value)
        elif value is not None or key in ("window", "max_rows", "llm_url", "llm_model"):
            values[key] = value
    cfg = FlywheelConfig(**values)
    if cfg.init not in INITS:
        raise ValueError(f"flywheel.init must be one of {', '.join(INITS)}, not {cfg.init!r}")
    if cfg.agent not in AGENTS:
        raise ValueError(f"flywheel.agent must be one of {', '.join(AGENTS)}, not {cfg.agent!r}")
    if cfg.agent == "llm" and not (cfg.llm_url and cfg.llm_model):
        raise ValueError("flywheel.agent is 'llm': set flywheel.llm_url and flywheel.llm_model (an OpenAI-compatible "
                         "chat-completions endpoint and the model it serves)")
    for key in ("questions_per_round", "window", "max_rows"):
        value = getattr(cfg, key)
        if value is not None and (not isinstance(value, int) or value < 1):
            nullable = " or null" if key != "questions_per_round" else ""
            raise ValueError(f"flywheel.{key} must be a positive integer{nullable}, not {value!r}")
    return cfg
