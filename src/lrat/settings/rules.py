"""The value rules params.yaml's settings are written in (lrat.settings.sections): each a test on the value exactly
as YAML parsed it, with the words an error uses for what was expected. A rule never coerces (32.0 is not a whole
number, "32" is not a number); the few that convert (a list to a tuple, a string to a Path) do so after the test."""

import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

from pydantic import PlainValidator
from pydantic_core import PydanticCustomError

# rules ------------------------------------------------------------------------------------------------------


Nullable = bool | str  # True: null means the default (not mentioned); a string: what null means (mentioned)


class NullMeansDefault:
    """Marks a field whose ``null`` in params.yaml means "the default": the section drops the key before
    validation, so the field's one declared default applies."""


NULL_MEANS_DEFAULT = NullMeansDefault()
EMPTY_MEANS_DEFAULT = NullMeansDefault()  # an empty list means the default too (the experiments' lists)


def rule(expected: str, ok: Callable[[Any], bool], nullable: Nullable = False,
         hint: Callable[[Any], str] | None = None, kind: Any = Any,
         convert: Callable[[Any], Any] | None = None) -> Any:
    """A field type that checks: the value passes through unchanged (or ``convert``-ed, once it passed) or the
    error says what is expected. ``kind`` is the type the field holds, for readers and type checkers."""
    wanted = f"{expected}, or null ({nullable})" if isinstance(nullable, str) else expected

    def check(value: Any) -> Any:
        if value is None and nullable:
            return None
        if value is not None and ok(value):
            return convert(value) if convert else value
        extra = hint(value) if hint else ""
        raise PydanticCustomError("lrat_params", "{expected}", {"expected": wanted + extra})

    held = kind | None if nullable else kind
    marks = (NULL_MEANS_DEFAULT,) if nullable is True else ()
    return Annotated[(held, PlainValidator(check), *marks)]


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _number_hint(value: Any) -> str:
    if isinstance(value, str):
        try:
            if math.isfinite(float(value)):
                return " (a quoted string: write the number without quotes)"
        except ValueError:
            pass
    return ""


def _bound_text(ge: float | None, gt: float | None, le: float | None, lt: float | None) -> str:
    low, high = (ge if ge is not None else gt), (le if le is not None else lt)
    if low is not None and high is not None:
        return f" in {'[' if ge is not None else '('}{low:g}, {high:g}{']' if le is not None else ')'}"
    if low is not None:
        return f" {'>=' if ge is not None else '>'} {low:g}"
    if high is not None:
        return f" {'<=' if le is not None else '<'} {high:g}"
    return ""


def _within(value: float, ge: float | None, gt: float | None, le: float | None, lt: float | None) -> bool:
    return ((ge is None or value >= ge) and (gt is None or value > gt) and (le is None or value <= le)
            and (lt is None or value < lt))


def number(*, ge: float | None = None, gt: float | None = None, le: float | None = None, lt: float | None = None,
           nullable: Nullable = False) -> Any:
    """Any YAML number (int or float, never a bool or a quoted string) within the bounds."""
    return rule(f"a number{_bound_text(ge, gt, le, lt)}",
                lambda v: is_number(v) and _within(v, ge, gt, le, lt), nullable, _number_hint, float)


def integer(*, ge: int | None = None, le: int | None = None, nullable: Nullable = False) -> Any:
    """A whole YAML number: the parsers hand these on as counts and sizes, where 32.0 or "32" would fail."""
    return rule(f"a whole number{_bound_text(ge, None, le, None)}",
                lambda v: is_int(v) and _within(v, ge, None, le, None), nullable, _number_hint, int)


def text(nullable: Nullable = False) -> Any:
    return rule("a string", lambda v: isinstance(v, str), nullable, kind=str)


def path(nullable: Nullable = False) -> Any:
    """A file or folder, written as a string; held as a Path (an empty string as None, like null)."""
    return rule("a string", lambda v: isinstance(v, str | Path), nullable, kind=Path,
                convert=lambda v: Path(v) if str(v) else None)


def flag(nullable: Nullable = False) -> Any:
    return rule("true or false", lambda v: isinstance(v, bool), nullable, kind=bool)


def choice(options: tuple[str, ...], nullable: Nullable = False) -> Any:
    return rule(f"one of {', '.join(map(repr, options))}", lambda v: isinstance(v, str) and v in options, nullable,
                kind=str)


GATE_METRIC = re.compile(r"(recall|ndcg|mrr)@[1-9][0-9]*|trajectory_recall@[1-9][0-9]*|search_(ndcg|recall)@10")


def gate_metric(nullable: Nullable = False) -> Any:
    """A metric the promotion gate can read: a question-level one (recall@K, ndcg@K, mrr@K) or an agent-query one
    (trajectory_recall@K, search_ndcg@10, search_recall@10)."""
    return rule("a metric: recall@K, ndcg@K, mrr@K, trajectory_recall@K, search_ndcg@10 or search_recall@10",
                lambda v: isinstance(v, str) and GATE_METRIC.fullmatch(v) is not None, nullable, kind=str)


def gate_metrics(nullable: Nullable = False) -> Any:
    """A list of `gate_metric` names, held as a tuple."""
    return rule("a list of metrics (recall@K, ndcg@K, mrr@K, trajectory_recall@K, search_ndcg@10, "
                "search_recall@10)", lambda v: isinstance(v, list | tuple)
                and all(isinstance(m, str) and GATE_METRIC.fullmatch(m) for m in v), nullable,
                kind=tuple[str, ...], convert=tuple)


def mapping(nullable: Nullable = False) -> Any:
    """A free-form mapping (prompts, request fields): its keys belong to someone else's API, not to this schema."""
    return rule("a mapping", lambda v: isinstance(v, Mapping), nullable, kind=dict[str, Any])


def strings(nullable: Nullable = False) -> Any:
    """A list of strings, held as a tuple."""
    return rule("a list of strings", lambda v: isinstance(v, list | tuple) and all(isinstance(s, str) for s in v),
                nullable, kind=tuple[str, ...], convert=tuple)


def numbers(item: Callable[[Any], bool], what: str, *, length: int | None = None, as_text: bool = False,
            nullable: Nullable = False) -> Any:
    """A list of numbers: exactly ``length`` if given, else at least one. ``as_text`` (the experiments' lists): also
    "0.1,0.5", as the flag takes it, and an empty list, which like null means the default."""
    size = f"{length} " if length else ""
    expected = f"a list of {size}{what}" + (", or a comma-separated string of them" if as_text else "")

    def ok(v: Any) -> bool:
        if as_text and isinstance(v, str):
            return True  # parsed, and checked, by the command like its flag
        if not isinstance(v, list | tuple):
            return False
        sized = len(v) == length if length else bool(v) or as_text
        return sized and all(map(item, v))

    def held(v: Any) -> Any:
        return v if isinstance(v, str) else tuple(v)

    field = rule(expected, ok, nullable, kind=tuple[float, ...] | str if as_text else tuple[float, ...],
                 convert=held)
    return Annotated[field, EMPTY_MEANS_DEFAULT] if as_text else field


def bound_pair(value: Any) -> bool:
    """``[low, high]``, either end null (open), low <= high: the form of the validation bounds."""
    return (isinstance(value, list) and len(value) == 2 and all(v is None or is_number(v) for v in value)
            and (None in value or value[0] <= value[1]))


def quantile_key(key: Any) -> bool:
    try:
        return not isinstance(key, bool) and 0 <= float(key) <= 1
    except (TypeError, ValueError):
        return False


Share = number(ge=0, le=1)
Probability = number(ge=0, le=1)
