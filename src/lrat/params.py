"""Reading ``params.yaml``, the one settings file every stage takes its section from."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def read_params(path: Path) -> dict[str, Any]:
    """The whole file as a dict; a missing file means defaults, an unreadable one is a ValueError naming it."""
    path = Path(path)
    if not path.exists():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return data


def section(params: dict[str, Any], name: str, path: Path | str = "params.yaml") -> dict[str, Any]:
    """One stage's section; a section that is not a mapping is a ValueError naming it."""
    value = params.get(name) or {}
    if not isinstance(value, dict):
        raise ValueError(f"{path}: `{name}:` must be a mapping")
    return value
