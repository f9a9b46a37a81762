"""The agent's reasoning text. Its *length* is the signal LRAT weights by, so it is drawn from the paper's
measured distributions (long-tailed; longer after useful pages) and the text is built up to that length."""

from __future__ import annotations

import math
import random
import re

from lrat.simulate.vocab import FILLER

_TOKEN = re.compile(r"\w+|[^\w\s]")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def count_tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def draw_length(rng: random.Random, mean: float, sigma: float = 0.8, cap: int = 1800) -> int:
    """A lognormal length with the given mean: most texts short, a long tail (paper §8)."""
    mu = math.log(mean) - sigma * sigma / 2
    return max(8, min(cap, round(rng.lognormvariate(mu, sigma))))


def fill(rng: random.Random, opening: list[str], page: str, target: int) -> str:
    """Opening sentences, then sentences restated from the page and general remarks, until ``target`` tokens."""
    parts = list(opening)
    restated = [s for s in _SENTENCE.split(page.split("\n", 1)[-1]) if s]
    pool = [*(f"The page says: {s}" for s in restated), *FILLER]
    rng.shuffle(pool)
    length = sum(count_tokens(p) for p in parts)
    i = 0
    while length < target and pool:
        sentence = pool[i % len(pool)]
        if i >= len(pool):
            sentence = f"Again, {sentence[0].lower()}{sentence[1:]}"
        parts.append(sentence)
        length += count_tokens(sentence)
        i += 1
    text = " ".join(parts)
    tokens = _TOKEN.findall(text)
    if len(tokens) > target + 12 and len(parts) > len(opening):
        parts.pop()
        text = " ".join(parts)
    return text


def useful(name: str, fact: str, next_step: str) -> list[str]:
    return [f"This page on {name} is what I needed.", fact, next_step]


def negative(title: str, want: str, rng: random.Random) -> list[str]:
    """An explicit negative judgement, the kind the LLM judge removes (method §4)."""
    return [rng.choice((
        f"This page about {title} is not relevant to {want}.",
        f"{title} is unrelated to what I am looking for; it does not help with {want}.",
        f"The document on {title} contains no useful information about {want}; it is about something else.",
    ))]


def neutral(title: str, want: str, rng: random.Random) -> list[str]:
    return [rng.choice((
        f"The page on {title} gives some background, but it does not settle {want}. I will keep searching.",
        f"{title} is partly related; it may help later, but I still need {want}.",
        f"I read about {title}. It adds context, though {want} is still open.",
    ))]
