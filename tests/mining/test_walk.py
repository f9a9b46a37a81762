"""The mining walk on hand-built trajectories: the authors' episode rules, and the project's options."""

from __future__ import annotations

from typing import Any

from lrat.mining.walk import WalkCounts, WalkOptions, walk

CORPUS = {str(i) for i in range(1, 40)}
LRAT = WalkOptions(pairing="attributed", negatives="episode", skip_repeats=True, empty_reasoning_is_zero=False)


class T:
    """Builds a normalized trajectory step by step, filling the derived browse fields as `lrat ingest` does."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []
        self.searches: list[list[str]] = []
        self.browsed: set[str] = set()

    def search(self, query: str, *docids: str) -> T:
        self.searches.append(list(docids))
        self.steps.append({"kind": "search", "idx": len(self.steps), "ordinal": len(self.searches), "query": query,
                           "results": [{"docid": d, "rank": r} for r, d in enumerate(docids, 1)]})
        return self

    def browse(self, docid: str | None, reasoning: str | None = "ok", found: bool = True) -> T:
        attributed = next((o for o in range(len(self.searches), 0, -1) if docid in self.searches[o - 1]), None)
        self.steps.append({"kind": "browse", "idx": len(self.steps), "docid": docid, "found": found,
                           "attributed_search": attributed if found else None,
                           "latest_search_before": len(self.searches) or None,
                           "repeat": docid in self.browsed, "reasoning_after": reasoning})
        self.browsed.add(docid)
        if reasoning is not None:
            self.steps.append({"kind": "reasoning", "idx": len(self.steps), "text": reasoning})
        return self

    def think(self, text: str = "hmm") -> T:
        self.steps.append({"kind": "reasoning", "idx": len(self.steps), "text": text})
        return self

    def record(self) -> dict[str, Any]:
        return {"trajectory_id": "t", "query_id": "q", "steps": self.steps}


def judge_by_text(step: dict[str, Any]) -> bool:
    return "no" not in (step.get("reasoning_after") or "")


def rows(t: T, opts: WalkOptions = WalkOptions(), verdict=judge_by_text, counts: WalkCounts | None = None):
    return walk(t.record(), verdict, CORPUS, opts, counts)


def test_relevant_browse_gets_every_unbrowsed_result_of_the_episode_newest_search_first():
    t = T().search("a", "1", "2", "3").search("b", "4", "1", "5").browse("1")
    [row] = rows(t)
    assert (row.query, row.pos_id, row.satisfied, row.search_ordinal) == ("b", "1", True, 2)
    assert row.neg_ids == ["4", "5", "2", "3"]


def test_judged_irrelevant_browses_come_first_as_hard_negatives_and_a_relevant_one_ends_the_episode():
    t = (T().search("a", "1", "2", "3", "4").browse("2", "no use").browse("3", "no again").think()
         .search("b", "5", "6", "1").browse("6", "no").think().browse("1", "yes").search("c", "7", "8").browse("7"))
    out = rows(t)
    by_pos = {r.pos_id: r for r in out}
    assert [r.pos_id for r in out] == ["2", "3", "6", "1", "7"]
    assert by_pos["3"].neg_ids == ["2", "1", "4"]  # own run's other rejects (newest first), then unbrowsed
    assert by_pos["6"].neg_ids == ["3", "2", "5", "1", "4"]  # earlier rejects newest first, then unbrowsed
    assert by_pos["1"].neg_ids == ["6", "3", "2", "5", "4"]
    assert by_pos["1"].satisfied and by_pos["1"].query == "b"
    assert by_pos["7"].neg_ids == ["8"]  # the episode reset: nothing from before the relevant browse


def test_a_browse_run_spans_browse_reasoning_browse_but_not_two_reasonings():
    t = T().search("a", "1", "2", "3").browse("1", "no").browse("2", "no")
    assert rows(t)[1].neg_ids == ["1", "3"]  # same run: 1 is a rejected browse of this run
    t2 = T().search("a", "1", "2", "3").browse("1", "no").think().browse("2", "no")
    assert rows(t2)[1].neg_ids == ["1", "3"]  # next run: 1 is an earlier reject, still first


def test_official_rows_need_the_doc_in_the_current_episode_and_in_the_corpus():
    counts = WalkCounts()
    t = T().search("a", "1", "2").browse("1").search("b", "3", "99").browse("2").browse("99").browse(None)
    out = rows(t, counts=counts)
    assert [r.pos_id for r in out] == ["1"]
    assert (counts.not_in_results, counts.not_in_corpus, counts.no_docid) == (1, 1, 1)
    assert "99" not in out[0].neg_ids


def test_attributed_pairing_uses_the_search_that_showed_the_doc():
    t = T().search("first", "1", "2").search("second", "3", "4").browse("2", "no").think().browse("1")
    latest = rows(t)
    attributed = rows(t, LRAT)
    assert [r.query for r in latest] == ["second", "second"]
    assert [(r.query, r.search_ordinal) for r in attributed] == [("first", 1), ("first", 1)]


def test_same_search_negatives_are_that_searchs_results_minus_everything_browsed():
    t = T().search("a", "1", "2", "3", "4").browse("1").search("b", "5", "2", "6").browse("5").browse("3")
    opts = WalkOptions(pairing="attributed", negatives="same_search")
    by_pos = {r.pos_id: r for r in rows(t, opts)}
    assert by_pos["1"].neg_ids == ["2", "4"]
    assert by_pos["5"].neg_ids == ["2", "6"]


def test_repeats_give_rows_in_the_official_walk_but_not_in_lrat():
    t = T().search("a", "1", "2").browse("1", "no").think().browse("1", "no")
    assert len(rows(t)) == 2
    counts = WalkCounts()
    assert len(rows(t, LRAT, counts=counts)) == 1 and counts.repeats == 1


def test_missing_reasoning_is_zero_for_the_official_walk_and_unknown_for_lrat():
    t = T().search("a", "1", "2").browse("1", reasoning=None)
    assert rows(t)[0].reasoning == ""
    assert rows(t, LRAT)[0].reasoning is None


def test_a_dropped_verdict_gives_no_row_and_is_never_a_negative():
    t = T().search("a", "1", "2", "3").browse("2", "error").think().browse("1")
    counts = WalkCounts()
    out = rows(t, verdict=lambda s: None if s["docid"] == "2" else True, counts=counts)
    assert [r.pos_id for r in out] == ["1"] and out[0].neg_ids == ["3"] and counts.dropped_by_judge == 1


def test_unfound_browse_is_not_a_positive_under_attributed_pairing():
    t = T().search("a", "1", "2").browse("1", found=False)
    assert rows(t, LRAT) == []
