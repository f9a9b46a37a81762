"""Reading ``params.yaml`` once into typed ``Settings``; a file that cannot be used is one ParamsError line per
problem, each naming the file, the key, the value given and what is expected, before any work starts."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from lrat.settings.rules import is_int, is_number
from lrat.settings.sections import Settings, Split, World


class ParamsError(ValueError):
    """A params file that cannot be used. A ValueError, so the CLI's one usage-error path (exit 2, no traceback)
    covers it."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path, self.problems = Path(path), list(problems)
        super().__init__("\n".join(f"{path}: {problem}" for problem in self.problems))


def _loader() -> type:
    """PyYAML's safe loader, reading floats as YAML 1.2 does: ``1e-5`` (what `dvc exp run -S train.lr=1e-5` writes
    back) is a number, not the string PyYAML 1.1 makes of an exponent without a dot."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {k: list(v) for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))
    return Loader


def read_yaml(path: Path) -> dict[str, Any]:
    """The file as YAML parsed it; a missing file is an empty mapping (all defaults)."""
    path = Path(path)
    if not path.exists():
        return {}
    import yaml

    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_loader()) or {}  # noqa: S506 (a SafeLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise ParamsError(path, [f"cannot read: {exc}"]) from None
    if not isinstance(data, dict):
        raise ParamsError(path, ["expected a mapping at the top level"])
    return data


def load_settings(path: Path | str = "params.yaml") -> Settings:
    """params.yaml as typed settings: a missing file means every default; an unreadable or invalid one is a
    ParamsError naming the file and each problem."""
    return settings_from(read_yaml(Path(path)), path)


def settings_from(values: dict[str, Any], path: Path | str = "params.yaml") -> Settings:
    """Settings from an already-parsed mapping (what a params file holds)."""
    found = problems(values)
    if found:
        raise ParamsError(path, found)
    return Settings.model_validate(values)


# problems ---------------------------------------------------------------------------------------------------------


def _show(value: Any) -> str:
    """A value as the user wrote it in YAML terms."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value)


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) and not isinstance(part, bool) else f"{'.' if out else ''}{part}"
    return out


def _section_model(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model that holds the keys at ``loc`` (a path of section names), for "did you mean" suggestions."""
    model: type[BaseModel] | None = Settings
    for part in loc:
        field = next((f for name, f in model.model_fields.items() if (f.alias or name) == part), None)
        if field is None:
            return None
        candidates = [field.annotation, *get_args(field.annotation)]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
        if model is None:
            return None
    return model


def _unknown(loc: tuple[Any, ...]) -> str:
    model = _section_model(loc[:-1])
    known = [f.alias or name for name, f in model.model_fields.items()] if model else []
    close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
    return f"{_dotted(loc)}: unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")


def _given(values: dict[str, Any], section: str, key: str, default: Any) -> Any:
    """A key as written, or its declared default when left out (or null)."""
    block = values.get(section) if isinstance(values.get(section), dict) else {}
    value = block.get(key)
    return default if value is None else value


def _cross_checks(values: dict[str, Any]) -> list[str]:
    """Rules between two keys; each side falls back to its declared default when left out."""
    out = []
    test = _given(values, "split", "test", Split.model_fields["test"].default)
    dev = _given(values, "split", "dev", Split.model_fields["dev"].default)
    if is_number(test) and is_number(dev) and 0 < test < 1 and 0 <= dev < 1 and not test + dev < 1:
        out.append(f"split.dev: {_show(dev)} is not valid: expected split.test + split.dev < 1 "
                   f"(split.test is {_show(test)})")
    low = _given(values, "world", "min_hops", World.model_fields["min_hops"].default)
    high = _given(values, "world", "max_hops", World.model_fields["max_hops"].default)
    if is_int(low) and is_int(high) and low >= 1 and high >= 1 and low > high:
        out.append(f"world.max_hops: {_show(high)} is not valid: expected a whole number >= world.min_hops "
                   f"({_show(low)})")
    return out


def _expected(error: Any) -> str:
    ctx = error.get("ctx") or {}
    return f"expected {ctx['expected']}" if "expected" in ctx else error["msg"]


def problems(values: dict[str, Any]) -> list[str]:
    """Every way ``values`` (params.yaml as loaded) breaks the schema, one line each; empty when it is valid."""
    out: list[str] = []
    try:
        Settings.model_validate(values)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            if error["type"] == "extra_forbidden":
                out.append(_unknown(loc))
            elif error["type"] in ("model_type", "model_attributes_type", "dict_type"):
                out.append(f"{_dotted(loc)}: {_show(error['input'])} is not valid: expected a mapping of settings")
            else:
                out.append(f"{_dotted(loc)}: {_show(error['input'])} is not valid: {_expected(error)}")
    return out + _cross_checks(values)
