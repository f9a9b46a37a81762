"""Mining settings: the two presets, and how params.yaml and flags combine with them.

`official` is the authors' builder as it is; `lrat` changes only what the method doc calls weak (docs: stages/mine).
A setting left empty (None) in params.yaml or on the command line takes the preset's value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from lrat.judge.prompts import OFFICIAL_SAMPLING
from lrat.settings import Mine
from lrat.settings.sections import MINE_FORMATS as FORMATS
from lrat.settings.sections import MINE_JUDGES as JUDGES
from lrat.settings.sections import MINE_NEGATIVES as NEGATIVES
from lrat.settings.sections import MINE_ON_ERROR as ON_ERROR
from lrat.settings.sections import MINE_PAIRINGS as PAIRINGS
from lrat.settings.sections import MINE_PRESETS as PRESETS


@dataclass(frozen=True)
class MineOptions:
    preset: str = "lrat"
    pairing: str = "attributed"
    negatives: str = "episode"
    judge: str = "heuristic"
    on_error: str = "drop"  # relevant | not_relevant | drop | fail
    group_by: str | None = "source.retriever"  # None: one normalisation over the whole build
    statuses: tuple[str, ...] | None = ("completed",)  # None: every trajectory
    skip_repeats: bool = True
    empty_reasoning_is_zero: bool = False
    require_negative: bool = True  # a kept row with no negative cannot train a contrastive loss
    format: str = "lrat"  # lrat | compact | flagembedding
    compact_above_mb: float | None = 256.0  # lrat text rows larger than this are written compact; None: never
    tokenizer: str = "base"
    judge_url: str | None = None
    judge_model: str | None = None
    judge_cache: str | None = None
    judge_settings: dict[str, Any] = field(default_factory=dict)  # prompt version, concurrency, timeout, ...


OFFICIAL = MineOptions(
    preset="official", pairing="latest", negatives="episode", judge="heuristic", on_error="not_relevant",
    group_by=None, statuses=None, skip_repeats=False, empty_reasoning_is_zero=True, require_negative=False,
)
LRAT = MineOptions()


JUDGE_KEYS = ("prompt_version", "prompts", "concurrency", "timeout", "retries", "backoff", "sampling", "api_key_env")


def resolve_options(preset: str | None, mine: Mine | Mapping[str, Any], overrides: dict[str, Any]) -> MineOptions:
    """Preset ← params.yaml `mine:` (the section, or a mapping of its keys) ← flags; bad choices are errors, never
    ignored."""
    if isinstance(mine, Mapping):
        mine = Mine.model_validate(mine)
    name = preset or overrides.get("preset") or mine.preset
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    base = OFFICIAL if name == "official" else LRAT
    known = {f.name for f in fields(MineOptions)} - {"preset", "judge_settings"}
    values: dict[str, Any] = {"preset": name}
    for source in (mine.model_dump(include=known), overrides):
        for key, value in source.items():
            if key in known and value is not None:
                values[key] = tuple(value) if isinstance(value, list) else value
    if mine.compact_above_mb is None and overrides.get("compact_above_mb") is None:
        values["compact_above_mb"] = None  # null here means never switch (both presets have the same value)
    values["judge_settings"] = {k: getattr(mine, k) for k in JUDGE_KEYS if getattr(mine, k) is not None}
    if name == "official":  # the authors' request settings (vLLM); set mine.sampling to send others
        values["judge_settings"].setdefault("sampling", dict(OFFICIAL_SAMPLING))
    opts = replace(base, **values)
    for key, choices in (("pairing", PAIRINGS), ("negatives", NEGATIVES), ("judge", JUDGES), ("format", FORMATS),
                         ("on_error", ON_ERROR)):
        if getattr(opts, key) not in choices:
            raise ValueError(f"unknown {key} {getattr(opts, key)!r}; choose one of {', '.join(choices)}")
    limit = opts.compact_above_mb
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | float) or not limit >= 0):
        raise ValueError(f"mine.compact_above_mb must be a number of MB >= 0 or null (never), not {limit!r}")
    if opts.judge == "openai" and not opts.judge_url:
        raise ValueError("--judge openai needs --judge-url (or mine.judge_url in params.yaml)")
    return opts
