"""Scaling subsets: deterministic, independent of file order, nested (a smaller share inside every larger one),
held-out questions never train, and the subset file is the ingested lines byte for byte."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from lrat.experiments.scaling import (
    check_fractions,
    draw_order,
    nested_subsets,
    read_ids,
    subset_size,
    write_subset,
)

IDS = [f"bcp:run_{i}.json" for i in range(200)]


def test_subsets_are_nested_and_sized_by_their_share():
    subsets = nested_subsets(IDS, [0.5, 0.1, 1.0, 0.25], seed=13)
    assert list(subsets) == [0.1, 0.25, 0.5, 1.0]
    sizes = [len(s) for s in subsets.values()]
    assert sizes == [round(f * len(IDS)) for f in subsets] and sizes == sorted(sizes)
    shares = list(subsets.values())
    for small, large in zip(shares, shares[1:], strict=False):
        assert set(small) < set(large)
    assert set(subsets[1.0]) == set(IDS) and all(len(set(s)) == len(s) for s in shares)


def test_subsets_are_deterministic_whatever_the_order_of_the_file():
    shuffled = IDS[:]
    random.Random(7).shuffle(shuffled)
    assert nested_subsets(IDS, [0.1, 0.3], 13) == nested_subsets(shuffled, [0.1, 0.3], 13)
    assert draw_order(IDS, 13) == draw_order(shuffled, 13)
    other = nested_subsets(IDS, [0.1], 14)[0.1]
    assert set(other) != set(nested_subsets(IDS, [0.1], 13)[0.1])  # the seed draws another subset


def test_subset_size_rounds_and_keeps_at_least_one():
    assert subset_size(0.001, 200) == 1 and subset_size(0.25, 10) == 2 and subset_size(1.0, 7) == 7
    assert subset_size(0.5, 0) == 0


@pytest.mark.parametrize("bad", [[], [0.0], [1.5], [-0.1, 0.5]])
def test_fractions_outside_zero_one_are_errors(bad):
    with pytest.raises(ValueError, match="--fractions"):
        check_fractions(bad)


def test_held_out_questions_never_train_and_subsets_copy_lines_exactly(tmp_path: Path):
    source = tmp_path / "trajectories.jsonl"
    lines = [json.dumps({"trajectory_id": f"t{i}", "query_id": str(i % 5), "steps": [], "note": "é"},
                        ensure_ascii=False) for i in range(20)]
    source.write_text("\n".join([*lines[:10], "not json", "", *lines[10:]]) + "\n", encoding="utf-8")
    ids, counts = read_ids(source, held_out={"0"})
    assert counts == {"read": 21, "held_out_excluded": 4, "unreadable": 1, "eligible": 16}
    assert "t0" not in ids and "t5" not in ids and len(ids) == 16
    keep = set(nested_subsets(ids, [0.5], 1)[0.5])
    written = write_subset(source, keep, tmp_path / "subset.jsonl")
    out = (tmp_path / "subset.jsonl").read_text(encoding="utf-8").splitlines()
    assert written == len(out) == len(keep) == 8
    assert set(out) <= set(lines) and {json.loads(line)["trajectory_id"] for line in out} == keep
