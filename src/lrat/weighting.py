"""Relevance intensity from reasoning length (method §5): w = (1 − e^(−l·ln2/B)) / H_raw, mean 1 per group.

B (the half-life) is the median length over rows with l > 0, so a row at the median gets raw score 0.5; H_raw is
the mean raw score over the same rows, which makes the weights average to 1 and keeps the loss on the scale of
plain InfoNCE. Rows with no or zero length carry no signal and get 1.0, as in the authors' code.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

LN2 = math.log(2.0)


@dataclass(frozen=True)
class Fit:
    half_life: float  # B
    h_raw: float  # mean raw score over rows with l > 0
    rows: int  # rows with l > 0 (the ones B and H_raw come from)

    def raw(self, length: float | None) -> float | None:
        if length is None or length <= 0:
            return None
        return 1.0 - math.exp(-float(length) * LN2 / self.half_life)

    def weight(self, length: float | None) -> float:
        raw = self.raw(length)
        return 1.0 if raw is None or self.h_raw == 0 else raw / self.h_raw

    @property
    def max_weight(self) -> float:
        """The supremum of any weight of this fit (l → ∞): validation checks every weight stays below it."""
        return 1.0 / self.h_raw if self.h_raw else 1.0


def fit(lengths: Sequence[float | None]) -> Fit:
    """B and H_raw over one group's rows; with no positive length B = 1 and H_raw = 1 (every weight 1.0)."""
    positive = [float(n) for n in lengths if n is not None and n > 0]
    if not positive:
        return Fit(1.0, 1.0, 0)
    half_life = statistics.median(positive)
    raws = [1.0 - math.exp(-n * LN2 / half_life) for n in positive]
    return Fit(half_life, sum(raws) / len(raws), len(positive))


def weights(lengths: Sequence[float | None]) -> tuple[list[float], Fit]:
    """One normalisation over all rows (the authors' builder: once per build)."""
    f = fit(lengths)
    return [f.weight(n) for n in lengths], f


def grouped_weights(
    lengths: Sequence[float | None], groups: Sequence[Hashable]
) -> tuple[list[float], dict[Hashable, Fit]]:
    """One normalisation per group (e.g. per collection retriever), so mixed sources each average 1."""
    members: dict[Hashable, list[int]] = {}
    for i, g in enumerate(groups):
        members.setdefault(g, []).append(i)
    out = [1.0] * len(lengths)
    fits: dict[Hashable, Fit] = {}
    for g, idx in members.items():
        fits[g] = f = fit([lengths[i] for i in idx])
        for i in idx:
            out[i] = f.weight(lengths[i])
    return out, fits
