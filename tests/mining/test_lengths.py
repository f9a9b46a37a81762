"""Reasoning lengths: the fast word route and the tokenizer itself give the same counts."""

from __future__ import annotations

import random
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from lrat.mining.lengths import TokenCounter, token_lengths

COUNTER = TokenCounter("base")
SAMPLES = [
    "The page on MV Falost Gull is what I needed. It confirms the ferry's owner (Calke Academy), 1897-1912!",
    "Hello [CLS] world [sep]", "naïve café – résumé", "tab\there\x0bvertical\x07bell\x7fdel", "a_b-c.d,e!f?g's",
    "x" * 250, "UPPER lower MiXeD 123abc 4.5e-3", "日本語 text", "emoji 😀 ok", "don’t", "~`{}|\\^<>@#$%&*+=",
    "", "   ", "\n\n",
]


def test_word_route_matches_the_tokenizer_on_tricky_text():
    assert COUNTER.count(SAMPLES) == COUNTER.count_exact(SAMPLES)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=string.printable + "éü’–😀日", max_size=200))
def test_word_route_matches_the_tokenizer_on_any_text(text: str):
    assert COUNTER.count([text]) == COUNTER.count_exact([text])


def test_random_ascii_reasoning():
    rng = random.Random(1)
    words = ["page", "confirms", "Calke", "Academy's", "1897", "(ferry)", "e.g.", "well-known", "x" * 120, "a--b"]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 80))) for _ in range(200)]
    assert COUNTER.count(texts) == COUNTER.count_exact(texts)


def test_none_is_unknown_and_empty_is_zero():
    assert token_lengths("base", [None, "", "hello world"]) == [None, 0, 2]
