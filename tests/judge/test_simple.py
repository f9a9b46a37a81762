"""The offline judges: the heuristic follows the lenient rule of method §4 in both directions."""

from __future__ import annotations

import random
import time

import pytest

from lrat.judge import NOT_RELEVANT, RELEVANT, HeuristicJudge, NoneJudge, Verdict, make_judge
from lrat.judge.simple import is_negative
from lrat.simulate import reasoning

NEGATIVE = [
    "This page is not relevant to the question.",
    "The article isn't relevant here.",
    "This document is NOT RELEVANT.",
    "It is not at all related to the harbour.",
    "The page is irrelevant to the founder's name.",
    "Irrelevant.",
    "This result is completely unrelated to what I need.",
    "This one is off-topic; moving on.",
    "The text is off topic.",
    "It doesn't help with the date.",
    "This page doesn’t help.",
    "The biography does not help me find the island.",
    "This page cannot answer the question.",
    "The document can't answer which year it was founded.",
    "It contains no useful information about the lighthouse.",
    "There is nothing relevant here.",
    "The page has no information about the painter.",
    "It is about something else entirely.",
    "The page is about a different person with the same name.",
    "This is a completely different topic.",
    "I opened the wrong page.",
    "The search result was useless for this question.",
    "Unfortunately this page is of no help.",
    "I don't think this page is relevant.",
    "The page is not useful for the question, so I will search again.",
    "The page about Kelmar is not relevant to the cliffs. I will keep searching.",
]

RELEVANT_TEXTS = [
    "",
    "This page is what I needed: it confirms the founding year.",
    "The page gives some background, but it does not settle the date. I will keep searching.",
    "It is partly related; it may help later.",
    "This is not only relevant but decisive.",
    "Irrelevant details aside, this confirms the founder was a botanist.",
    "The page is not irrelevant: it names the harbour.",
    "It is far from irrelevant.",
    "Some parts are irrelevant, but the second section gives the date.",
    "This might be unrelated, so I should double-check.",
    "I am not sure whether this is relevant.",
    "I still cannot answer the question; I need the next clue.",
    "I cannot answer yet, but the page narrows the candidates.",
    "This page is not directly relevant, though it gives useful context.",
    "It is not relevant to the date, but it names the founder.",
    "The page is helpful and relevant.",
    "The answer should be Kelmar Island.",
    "I can't help but notice the years match.",
    "It does not answer the question directly, but it gives the founder.",
    "There may be unrelated pages with similar names.",
    "I need to check a different source; this one gives the year.",
    "The page mentions another topic briefly but focuses on the island.",
    "The knot relevant to sailors is described here.",
]


@pytest.mark.parametrize("text", NEGATIVE)
def test_explicit_negative_judgements_are_not_relevant(text: str) -> None:
    assert is_negative(text), text
    assert HeuristicJudge().judge([text]) == [Verdict(NOT_RELEVANT)]


@pytest.mark.parametrize("text", RELEVANT_TEXTS)
def test_everything_else_is_relevant(text: str) -> None:
    assert not is_negative(text), text
    assert HeuristicJudge().judge([text]) == [Verdict(RELEVANT)]


def _all_templates(make, title: str, want: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {make(title, want, random.Random(seed))[0] for seed in range(64)}


@pytest.mark.parametrize(("title", "want"), [
    ("Kelmar Island", "the island that has red cliffs"),
    ("The Silent Harbour", "the painting that was given to a museum"),
    ("Maren Ostholm", "Greta Velda"),
])
def test_simulated_agent_sentences(title: str, want: str) -> None:
    """The simulator writes both kinds on purpose: its negative ones must go, its neutral ones must stay."""
    negatives = _all_templates(reasoning.negative, title, want)
    neutrals = _all_templates(reasoning.neutral, title, want)
    assert len(negatives) == 3 and len(neutrals) == 3  # every template seen
    judge = HeuristicJudge()
    assert {v.label for v in judge.judge(sorted(negatives))} == {NOT_RELEVANT}
    assert {v.label for v in judge.judge(sorted(neutrals))} == {RELEVANT}


def test_negative_sentence_inside_long_reasoning() -> None:
    rng = random.Random(7)
    page = "Kelmar Island\nKelmar Island has red cliffs. It was founded in 1820. The harbour is small."
    for make, label in ((reasoning.negative, NOT_RELEVANT), (reasoning.neutral, RELEVANT)):
        for _ in range(30):
            text = reasoning.fill(rng, make("Kelmar Island", "the lighthouse keeper", rng), page, 300)
            assert HeuristicJudge().judge([text])[0].label == label, text


def test_stats_and_speed() -> None:
    rng = random.Random(0)
    page = "Title\nThe island has cliffs. It was founded in 1820. Other boats help the harbour."
    texts = [reasoning.fill(rng, (reasoning.neutral if i % 2 else reasoning.negative)("Kelmar", "the year", rng),
                            page, reasoning.draw_length(rng, 200)) for i in range(2000)]
    judge = make_judge("heuristic")
    start = time.perf_counter()
    verdicts = judge.judge(texts)
    rate = len(texts) / (time.perf_counter() - start)
    assert [v.label for v in verdicts] == [RELEVANT if i % 2 else NOT_RELEVANT for i in range(2000)]
    assert judge.stats() == {"verdicts": 2000, "calls": 0, "cache_hits": 0, "errors": 0, "retries": 0}
    assert rate > 20_000, f"{rate:.0f} texts/s"  # ~60k/s measured; loose bound for slow CI machines


def test_none_judge_keeps_everything() -> None:
    judge = NoneJudge()
    assert judge.name == "none"
    assert judge.judge(["This page is not relevant.", ""]) == [Verdict(RELEVANT)] * 2
    assert judge.stats()["verdicts"] == 2
    judge.close()


def test_make_judge_rejects_unknown_backend_and_openai_without_url() -> None:
    with pytest.raises(ValueError, match="unknown judge backend"):
        make_judge("gpt")
    with pytest.raises(ValueError, match="url"):
        make_judge("openai")
    assert make_judge("none").name == "none"
    assert make_judge("heuristic").name == "heuristic"
