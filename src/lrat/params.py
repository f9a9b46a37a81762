"""Reading ``params.yaml``, the one settings file every stage takes its section from."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class ParamsError(ValueError):
    """A params file that cannot be used, found before any work starts; one line per problem, each naming the file,
    the key, the value given and what is expected. A ValueError, so every command's usage-error handling (exit 2,
    no traceback) already covers it."""

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


def read_params(path: Path) -> dict[str, Any]:
    """The whole file as a dict, exactly as YAML parsed it, once it passes the schema (lrat.params_schema); a
    missing file means defaults, an unreadable or invalid one is a ParamsError naming it."""
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
    from lrat.params_schema import problems

    found = problems(data)
    if found:
        raise ParamsError(path, found)
    return data


def section(params: dict[str, Any], name: str, path: Path | str = "params.yaml") -> dict[str, Any]:
    """One stage's section; a section that is not a mapping is a ValueError naming it."""
    value = params.get(name) or {}
    if not isinstance(value, dict):
        raise ValueError(f"{path}: `{name}:` must be a mapping")
    return value
