"""The `mine` stage as `lrat mine` and the flywheel run it: settings resolved the one way, then `mine`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lrat.settings import Settings


def mine_stage(trajectories: Path, corpus: Path, out: Path, settings: Settings, metrics: Path | None,
               preset: str | None = None, overrides: dict[str, Any] | None = None, splits: Path | None = None,
               progress: bool = True, log: Callable[[str], None] = lambda message: None) -> dict[str, Any]:
    """``overrides``: flag values over `mine:` (None = not given); ``splits``: trajectories of held-out questions
    are left out."""
    from lrat.benchmark import held_out_questions
    from lrat.mining.options import resolve_options
    from lrat.mining.run import mine

    opts = resolve_options(preset, settings.mine, overrides or {})
    held_out = None if splits is None else held_out_questions(splits)
    return mine(trajectories, corpus, out, opts, metrics, progress=progress, log=log, held_out=held_out)
