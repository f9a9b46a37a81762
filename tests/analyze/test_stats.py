"""compute_stats on hand-built normalized records: every number checked exactly against a count by hand."""

from __future__ import annotations

from typing import Any

import pytest

from lrat.analyze.run import regex_token_count
from lrat.analyze.stats import compute_stats, hist_edges, is_correct, normalize_answer


def S(ordinal: int, *docids: str | None) -> dict[str, Any]:
    results = [{"docid": d, "rank": r, "score": None, "title": None, "url": None} for r, d in enumerate(docids, 1)]
    return {"kind": "search", "ordinal": ordinal, "query": f"q{ordinal}", "queries_requested": [], "results": results,
            "error": None}


def B(docid: str, attributed: int | None, after: str | None = None, repeat: bool = False,
      found: bool = True) -> dict[str, Any]:
    return {"kind": "browse", "docid": docid, "url": None, "found": found, "error": None,
            "attributed_search": attributed, "latest_search_before": attributed, "repeat": repeat,
            "reasoning_after": after}


def R(text: str = "thinking") -> dict[str, Any]:
    return {"kind": "reasoning", "text": text}


def record(steps: list[dict[str, Any]], gold: str | None = None, exact: str | None = None, qid: str = "q1",
           evidence: list[str] | None = None) -> dict[str, Any]:
    steps = [{**s, "idx": i} for i, s in enumerate(steps)]
    final = None if exact is None else {"text": exact, "exact": exact, "confidence": None, "cited_docids": []}
    return {"schema_version": 1, "trajectory_id": f"t:{qid}", "query_id": qid, "gold_answer": gold,
            "gold_evidence_ids": evidence, "status": "completed", "final_answer": final, "steps": steps,
            "warnings": []}


TEN = [f"d{i}" for i in range(1, 11)]


def test_runs_and_transitions_by_correctness():
    other = {"kind": "other_tool", "name": "python", "arguments": {}, "output": None}
    correct = record([R(), S(1, "a"), R(), S(2, "b"), other, B("b", 2), R(), S(3, "c"), B("c", 3), B("a", 1),
                      {"kind": "answer", "text": "Paris"}], gold="Paris", exact="Paris.")
    wrong = record([S(1), S(2), S(3)], gold="Paris", exact=None, qid="q2")
    unknown = record([S(1, "x"), B("x", 1)], gold=None, exact="whatever", qid="q3")
    stats = compute_stats([correct, wrong, unknown], None, len)
    assert stats["n_trajectories"] == 3
    runs = stats["runs"]
    assert runs["all"] == pytest.approx({"n": 3, "avg_searches": 7 / 3, "avg_browses": 4 / 3,
                                         "browses_per_search": 4 / 7, "avg_steps": 11 / 3})
    assert runs["correct"] == {"n": 1, "avg_searches": 3.0, "avg_browses": 3.0, "browses_per_search": 1.0,
                               "avg_steps": 6.0}
    assert runs["incorrect"] == {"n": 1, "avg_searches": 3.0, "avg_browses": 0.0, "browses_per_search": 0.0,
                                 "avg_steps": 3.0}
    # correct run: S S B S B B → SS, SB, BS, SB, BB (reasoning, other tools and the answer are skipped)
    trans = stats["transitions"]
    assert trans["correct"]["counts"] == {"S->S": 1, "S->B": 2, "B->S": 1, "B->B": 1}
    assert [trans["correct"][t] for t in ("S->S", "S->B", "B->S", "B->B")] == pytest.approx([1 / 3, 2 / 3, 0.5, 0.5])
    assert trans["incorrect"] == {"counts": {"S->S": 2, "S->B": 0, "B->S": 0, "B->B": 0}, "S->S": 1.0,
                                  "S->B": 0.0, "B->S": None, "B->B": None}
    assert trans["all"]["counts"] == {"S->S": 3, "S->B": 3, "B->S": 1, "B->B": 1}


@pytest.mark.parametrize(("exact", "gold", "expected"), [
    ("Paris", "Paris", True),
    ("The Eiffel Tower!", "eiffel  tower", True),
    ("It is the Eiffel Tower, in Paris.", "Eiffel Tower", True),  # gold inside the answer, as whole words
    ("Tower", "The Eiffel Tower", True),  # the answer inside the gold
    ("Eiffel Towers", "Eiffel Tower", False),  # not whole words
    ("Bedřich Havlíček’s", "bedřich havlíček", True),  # Unicode punctuation splits words
    ("London", "Paris", False),
    ("...", "Paris", False),  # nothing left after normalisation is never correct
    (None, "Paris", False),  # no answer with a known gold answer is incorrect
    ("Paris", None, None),  # no gold answer: neither correct nor incorrect
])
def test_correctness_normalisation(exact: str | None, gold: str | None, expected: bool | None):
    final = None if exact is None else {"text": exact or "", "exact": exact}
    assert is_correct(final, gold) is expected


def test_normalize_answer():
    assert normalize_answer("  An Apple, the  PIE and a-b ") == "apple pie and b"


def test_browse_by_rank_counts_only_first_browses_at_their_attributed_rank():
    first = record([
        S(1, *TEN),
        B("d1", 1), B("d1", 1, repeat=True),  # rank 1; the repeat does not count again
        B("d10", 1),  # rank 10
        B("d4", 1, found=False),  # not found: would be rank 4
        S(2, *reversed(TEN)),
        B("d9", 2), B("d2", 2),  # ranks in search 2 (2 and 9), not in search 1 (9 and 2)
        B("d3", None),  # unattributed
    ])
    second = record([S(1, *TEN, "d11", "d12"), B("d1", 1), B("d12", 1), S(2, "d5", None)], qid="q2")
    by_rank = compute_stats([first, second], None, len)["browse_by_rank"]
    assert by_rank["ranks"] == list(range(1, 11))
    assert by_rank["browses"] == [2, 1, 0, 0, 0, 0, 0, 0, 1, 1]  # d12 at rank 12 is ignored
    assert by_rank["shown"] == [4, 4] + [3] * 8  # the null docid at rank 2 was displayed too
    assert by_rank["share"] == pytest.approx([0.4, 0.2, 0, 0, 0, 0, 0, 0, 0.2, 0.2])
    assert by_rank["probability"] == pytest.approx([0.5, 0.25, 0, 0, 0, 0, 0, 0, 1 / 3, 1 / 3])
    assert by_rank["position_bias_ratio"] == pytest.approx(2.0)


def test_browse_by_rank_is_null_when_nothing_to_compute():
    no_rank_ten = compute_stats([record([S(1, *TEN), B("d1", 1)])], None, len)["browse_by_rank"]
    assert no_rank_ten["share"][0] == 1.0 and no_rank_ten["position_bias_ratio"] is None
    no_rank_one = compute_stats([record([S(1, *TEN), B("d10", 1)])], None, len)["browse_by_rank"]
    assert no_rank_one["position_bias_ratio"] is None
    empty = compute_stats([record([S(1, "a", "b")])], None, len)["browse_by_rank"]
    assert empty["browses"] == [0] * 10 and empty["share"] == [None] * 10
    assert empty["probability"] == [0.0, 0.0] + [None] * 8 and empty["position_bias_ratio"] is None


def _reasoning_records(evidence: list[str] | None = None) -> list[dict[str, Any]]:
    correct = record([S(1, "e1", "n1", "n2"), B("e1", 1, "x" * 10), B("n1", 1, "x" * 4), B("e1", 1, "x" * 99, True),
                      B("n2", 1, "x" * 99, found=False), B("n2", None, ""), B("n3", None, None)],
                     gold="yes", exact="yes", evidence=evidence)
    wrong = record([S(1, "e2"), B("e2", 1, "x" * 30)], gold="yes", exact="no", qid="q2",
                   evidence=["e2"] if evidence is not None else None)
    return [correct, wrong]


def test_reasoning_length_split_from_the_records_evidence():
    stats = compute_stats(_reasoning_records(evidence=["e1"]), None, len)
    assert stats["evidence_source"] == "records"
    lengths = stats["reasoning_length"]
    # kept: 10 (e1), 4 (n1), 0 (n2, unattributed but found, empty reasoning), 30 (e2); repeat/not-found/null dropped
    assert lengths["all"] == {"n": 4, "mean": 11.0, "median": 7.0, "p90": pytest.approx(24.0), "max": 30,
                              "histogram": {"edges": [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32],
                                            "counts": [1, 0, 1, 0, 0, 1] + [0] * 9 + [1]}}
    assert (lengths["evidence"]["n"], lengths["evidence"]["mean"]) == (2, 20.0)
    assert (lengths["non_evidence"]["n"], lengths["non_evidence"]["mean"]) == (2, 2.0)
    assert lengths["evidence_ratio"] == 10.0
    assert (lengths["correct"]["n"], lengths["correct"]["mean"], lengths["incorrect"]["mean"]) == (3, 14 / 3, 30.0)
    assert lengths["evidence"]["histogram"]["edges"] == lengths["all"]["histogram"]["edges"]


def test_reasoning_length_split_from_qrels_overrides_records_and_skips_unjudged_queries():
    stats = compute_stats(_reasoning_records(evidence=["e1"]), {"q1": {"n1"}}, len)
    lengths = stats["reasoning_length"]
    assert stats["evidence_source"] == "qrels"
    assert (lengths["evidence"]["n"], lengths["evidence"]["mean"]) == (1, 4.0)  # q2 is not in the qrels
    assert (lengths["non_evidence"]["n"], lengths["non_evidence"]["mean"]) == (2, 5.0)
    assert lengths["evidence_ratio"] == pytest.approx(0.8)


def test_no_evidence_split_without_qrels_or_gold_evidence_ids():
    stats = compute_stats(_reasoning_records(), None, len)
    lengths = stats["reasoning_length"]
    assert stats["evidence_source"] is None
    assert lengths["evidence"] is None and lengths["non_evidence"] is None and lengths["evidence_ratio"] is None
    assert lengths["all"]["n"] == 4


def test_empty_input_gives_nulls_not_errors():
    stats = compute_stats(iter([]), None, regex_token_count)
    assert stats["n_trajectories"] == 0 and stats["tokenizer"] == "regex"
    assert stats["runs"]["all"] == {"n": 0, "avg_searches": None, "avg_browses": None, "browses_per_search": None,
                                    "avg_steps": None}
    assert stats["transitions"]["correct"]["S->B"] is None
    assert stats["browse_by_rank"]["probability"] == [None] * 10
    assert all(stats["reasoning_length"][k] is None for k in ("all", "evidence", "non_evidence", "correct",
                                                               "incorrect", "evidence_ratio"))


def test_paper_reference_values_and_their_isolation():
    paper = compute_stats([], None, len, tokenizer_name="tok")["paper"]
    assert paper["runs"]["correct"] == {"avg_searches": 11.77, "avg_browses": 3.61, "browses_per_search": 0.31,
                                        "avg_steps": 15.38}
    assert paper["runs"]["incorrect"]["avg_steps"] == 41.63
    assert paper["transitions"]["correct"] == {"S->S": 0.77, "S->B": 0.23, "B->S": 0.60, "B->B": 0.40}
    curve = paper["browse_by_rank"]
    assert (curve["agent_share"][0], curve["agent_share"][-1]) == (0.12, 0.09)
    assert (curve["human_click_share"][0], curve["human_click_share"][-1]) == (0.2, 0.04)
    assert paper["reasoning_length"]["mean"] == {"evidence": 111, "non_evidence": 77, "correct": 149, "incorrect": 84}
    paper["runs"]["correct"]["avg_searches"] = -1
    assert compute_stats([], None, len)["paper"]["runs"]["correct"]["avg_searches"] == 11.77


def test_histogram_edges_share_integer_bins():
    assert hist_edges([]) == [0, 1]
    assert hist_edges([0, 0]) == [0, 1]
    assert hist_edges([45]) == list(range(0, 49, 3))  # width ceil(45/20) = 3, the last edge is past the max


def test_regex_token_count():
    assert regex_token_count("Hello, world!  foo_bar 42") == 6
    assert regex_token_count("") == 0
