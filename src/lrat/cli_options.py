"""The options every stage command shares, declared once: ``--params``, ``--quiet`` and ``--json``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

ParamsOption = Annotated[Path, typer.Option(
    "--params", help="params.yaml: the settings of every stage (docs: configuration); a missing file means the "
    "defaults.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or progress messages; warnings "
                                          "and errors are still printed.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the command's result as JSON on stdout.")]

PARAMS = Path("params.yaml")


def quiet_libraries(quiet: bool) -> None:
    """With --quiet, MLflow's download bars and transformers' weight-loading bars stay off too."""
    if quiet:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
