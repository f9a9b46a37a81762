"""Relevance-intensity weights (method §5): check values, mean 1, groups, the no-length rule."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from lrat.weighting import Fit, fit, grouped_weights, weights


@pytest.mark.parametrize(("length", "expected"), [(9, 0.0888), (90, 0.7318), (139, 1.0119), (517, 1.8702)])
def test_check_values_of_the_method_doc(length: int, expected: float):
    assert round(Fit(139, 0.4941, 1).weight(length), 4) == expected


def test_half_life_is_the_median_of_positive_lengths_and_weights_average_one():
    lengths = [0, None, 10, 20, 30, 400]
    f = fit(lengths)
    assert f.half_life == 25.0 and f.rows == 4
    assert f.h_raw == pytest.approx(statistics.mean(1 - math.exp(-n * math.log(2) / 25) for n in (10, 20, 30, 400)))
    out, _ = weights(lengths)
    assert out[:2] == [1.0, 1.0]  # no or zero length: no signal, weight 1 (the authors' rule)
    assert statistics.mean(out[2:]) == pytest.approx(1.0)
    assert all(0 < w < f.max_weight for w in out)
    assert out[2] < out[3] < out[4] < out[5]


def test_a_row_at_the_half_life_gets_half_the_raw_score():
    f = fit([50, 100, 150])
    assert f.raw(100) == pytest.approx(0.5)


def test_each_group_is_normalised_on_its_own():
    rng = random.Random(0)
    lengths = [rng.lognormvariate(4, 0.8) for _ in range(300)] + [rng.lognormvariate(5.5, 0.8) for _ in range(300)]
    groups = ["a"] * 300 + ["b"] * 300
    out, fits = grouped_weights(lengths, groups)
    assert fits["b"].half_life > 3 * fits["a"].half_life
    assert statistics.mean(out[:300]) == pytest.approx(1.0) and statistics.mean(out[300:]) == pytest.approx(1.0)
    pooled, _ = weights(lengths)
    assert statistics.mean(pooled[:300]) < 0.9  # one normalisation would down-weight the terse source


def test_no_lengths_at_all_gives_every_row_weight_one():
    out, f = weights([None, 0, None])
    assert out == [1.0, 1.0, 1.0] and f.rows == 0
