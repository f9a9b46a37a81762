"""Offline judges. ``none`` keeps every browsed page (the paper's naive ablation); ``heuristic`` applies the
lenient decision rule of method §4 with a regex: NOT_RELEVANT only for an explicit negative judgement of relevance,
RELEVANT for everything else (partial help, background, "keep searching", empty text)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from lrat.judge.base import NOT_RELEVANT, RELEVANT, Counters, Verdict

_RELEVANT = Verdict(RELEVANT)
_NOT_RELEVANT = Verdict(NOT_RELEVANT)

# The patterns carry no leading \b (it makes them ~3x slower); is_negative() checks that a match starts a word.
_NOT = r"(?:not|n['’]t|never)"
_DEGREE = r"(?:(?:at\s+all|really|even|remotely|particularly|very|actually|that|so|in\s+any\s+way)\s+)?"
# An adjective used attributively ("irrelevant details aside, ...") describes part of the page, not the page.
_NOT_A_MODIFIER = (r"(?!\s+(?:details?|parts?|bits?|sections?|passages?|information|info|content|material|facts?"
                   r"|text|noise|remarks?|mentions?|asides?|tangents?)\b|\s+aside\b)")
# (anchor words, pattern): every pattern contains one of its anchor words, which are rare enough that most texts
# are settled by one cheap scan for them; the patterns then run only in a small window around each anchor.
_RULES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("relevan", "related", "useful", "help", "pertinent", "applicable", "topic"),
     rf"{_NOT}\s+(?:be\s+)?{_DEGREE}(?:relevant|related|useful|helpful|pertinent|applicable|on[- ]topic)\b"),
    (("relevan", "related", "topic", "useless"), rf"(?:irrelevant|unrelated|off[- ]topic|useless)\b{_NOT_A_MODIFIER}"),
    (("help",), r"(?:(?:does|do|did|will|would|can)\s+not|(?:doesn|don|didn|won|wouldn|can)['’]t|cannot)"
                r"\s+(?:really\s+|actually\s+)?help\b(?!\s+but\b)"),
    (("help", "of_no"), r"of\s+no\s+(?:help|use|value|relevance)\b|no\s+help\b"),
    (("answer",), r"(?P<answer>(?:cannot|can\s+not|can['’]t)\s+(?:be\s+used\s+to\s+)?answer\b)"),
    (("relevan", "useful", "help", "pertinent", "usable"),
     r"(?:no|not\s+any|nothing)\s+(?:useful|relevant|helpful|pertinent|usable)\b"),
    (("info",), r"no\s+(?:information|info)\s+(?:about|on|of|regarding|concerning)\b"),
    (("relevan", "useful", "help"),
     r"(?:don['’]t|do\s+not)\s+think\s+(?:this|it|that)\s+(?:page\s+|document\s+)?is\s+(?:relevant|useful|helpful)\b"),
    (("else",), r"about\s+(?:something|someone|somebody)\s+else\b"),
    (("different", "related"),
     r"about\s+(?:a|an)\s+(?:(?:completely|totally|entirely|quite)\s+)?(?:different|unrelated|separate)"
     r"\s+(?:topic|subject|matter|person|entity|thing|place|event|people)\b"),
    (("different",), r"(?:a|an)\s+(?:(?:completely|totally|entirely)\s+)?different\s+(?:topic|subject)\b"),
    (("wrong",), r"the\s+wrong\s+(?:page|document|article|entity|person|topic)\b"),
)
# A substring search per anchor word is ~5x faster than one regex scan for all of them.
_NEEDLES = {"relevan": "relevan", "related": "related", "useful": "useful", "useless": "useless", "usable": "usable",
            "help": "help", "pertinent": "pertinent", "applicable": "applicable", "topic": "topic",
            "answer": "answer", "info": "info", "else": "else", "differen": "different", "separate": "different",
            "wrong": "wrong", "of no": "of_no"}
_BY_NEEDLE = {needle: re.compile("|".join(p for anchors, p in _RULES if key in anchors))
              for needle, key in _NEEDLES.items()}
_WINDOW_CHARS = 48  # how far a pattern can start before its anchor word
_AFTER_CHARS = 32  # and reach past it (the modifier look-ahead included)
# Words just before a match that undo it: negation ("not irrelevant"), hedging ("may be unrelated"), or a
# partial subject ("some parts are irrelevant"). The lenient rule wants a clear judgement.
_UNDO = re.compile(r"(?:\bnot|n['’]t|\bnever|\bhardly|\bfar\s+from|\bif|\bwhether|\bunless|\bperhaps|\bmaybe"
                   r"|\bpossibly|\bunsure|\bunclear|\bpartly|\bpartially|\bsomewhat|\bmostly|\blargely|\bsome"
                   r"|\bparts?|\bsections?|\b(?:may|might|could|would)(?:\s+not)?\s+be)\b")
# The agent saying *it* cannot answer yet is a state of the search, not a verdict on the page.
_FIRST_PERSON = re.compile(r"\b(?:i|we|still|yet)\b")
# "X is not relevant to the date, but it names the founder": a contrast after the verdict means partial help.
_CONTRAST = re.compile(r"\b(?:but|however|although|though)\b")
_CLAUSE_START = re.compile(r"[.;!?,:]")
_CLAUSE_END = re.compile(r"[.;!?]")


def _undone(low: str, start: int, end: int, answer: bool) -> bool:
    """Whether the words around a negative phrase take the judgement back (see _UNDO, _CONTRAST)."""
    before = _CLAUSE_START.split(low[max(0, start - _WINDOW_CHARS):start])[-1]
    before = " ".join(before.split()[-5:])
    if _UNDO.search(before) or (answer and _FIRST_PERSON.search(before)):
        return True
    stop = _CLAUSE_END.search(low, end)
    return _CONTRAST.search(low, end, stop.start() if stop else len(low)) is not None


def is_negative(text: str) -> bool:
    """True when the text states a clear negative judgement of the page's relevance.

    Speed: a substring search for the anchor words every negative phrase contains (most texts have few), then the
    patterns only in a small window around each; scanning whole texts with them is ~15x slower.
    """
    if not text:
        return False
    low = text.lower()
    for needle, patterns in _BY_NEEDLE.items():
        at = low.find(needle)
        while at >= 0:
            lo, hi = max(0, at - _WINDOW_CHARS), at + len(needle) + _AFTER_CHARS
            for match in patterns.finditer(low, lo, hi):
                start, end = match.span()
                if start and low[start - 1].isalnum() and low[start].isalnum() and low[start + 1] not in "'’":
                    continue  # mid-word ("knot relevant"), but "isn't relevant" starts at its "n't"
                if not _undone(low, start, end, match.lastgroup == "answer"):
                    return True
            at = low.find(needle, at + 1)
    return False


class _Offline:
    """Shared bookkeeping: offline judges make no calls and have nothing to cache or close."""

    name = "offline"

    def __init__(self) -> None:
        self._counters = Counters()

    def stats(self) -> dict[str, int]:
        return self._counters.snapshot()

    def close(self) -> None:
        return None


class NoneJudge(_Offline):
    """Every page is relevant: the "w/o filter" ablation, and the official rows built with no judge."""

    name = "none"

    def judge(self, texts: Sequence[str]) -> list[Verdict]:
        self._counters.add(verdicts=len(texts))
        return [_RELEVANT] * len(texts)


class HeuristicJudge(_Offline):
    """The decision rule as a regex: deterministic, free, and fast enough for any trajectory set."""

    name = "heuristic"

    def judge(self, texts: Sequence[str]) -> list[Verdict]:
        verdicts = [_NOT_RELEVANT if is_negative(t) else _RELEVANT for t in texts]
        self._counters.add(verdicts=len(verdicts))
        return verdicts
