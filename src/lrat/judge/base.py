"""The judge contract: one verdict per reasoning text, errors kept visible (never silently NOT_RELEVANT, the
official builder's bug), and a policy that decides what an error means for the row (method §4)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

RELEVANT = "RELEVANT"
NOT_RELEVANT = "NOT_RELEVANT"
LABELS = (RELEVANT, NOT_RELEVANT)
POLICIES = ("relevant", "not_relevant", "drop", "fail")
STAT_KEYS = ("verdicts", "calls", "cache_hits", "errors", "retries")


@dataclass(frozen=True)
class Verdict:
    """``label`` is None exactly when the judge failed; ``error`` then says why."""

    label: str | None
    error: str | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.label is not None


class JudgeError(RuntimeError):
    """A judge failure the caller chose not to tolerate (policy ``fail``), or a judge that cannot start."""


@runtime_checkable
class Judge(Protocol):
    name: str

    def judge(self, texts: Sequence[str]) -> list[Verdict]: ...

    def stats(self) -> dict[str, int]: ...

    def close(self) -> None: ...


def resolve(verdict: Verdict, policy: str) -> bool | None:
    """True = relevant, False = not relevant, None = drop the row.

    A verdict with a label ignores the policy; an error verdict is mapped by it, and ``fail`` raises so that a
    flaky endpoint cannot quietly reshape the training data.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown judge error policy {policy!r}; choose one of {', '.join(POLICIES)}")
    if verdict.label is not None:
        if verdict.label not in LABELS:
            raise ValueError(f"verdict label must be {RELEVANT} or {NOT_RELEVANT}, got {verdict.label!r}")
        return verdict.label == RELEVANT
    if policy == "relevant":
        return True
    if policy == "not_relevant":
        return False
    if policy == "drop":
        return None
    raise JudgeError(f"judge failed: {verdict.error or 'unknown error'}")


class Counters:
    """Thread-safe life-long counters behind ``Judge.stats()`` (the keys are fixed so reports can rely on them)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(STAT_KEYS, 0)

    def add(self, **deltas: int) -> None:
        with self._lock:
            for key, delta in deltas.items():
                if key not in self._counts:
                    raise KeyError(key)
                self._counts[key] += delta

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
