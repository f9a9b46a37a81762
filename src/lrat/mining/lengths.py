"""Reasoning length in tokens of the embedder's tokenizer, without special tokens (the authors' count).

Counting is the slowest part of mining, so for the common case, an uncased BERT WordPiece tokenizer (MiniLM,
E5, BGE) and plain ASCII text, the count is done word by word with a cache: BERT's normalizer and
pre-tokenizer reduce to lower-casing, dropping control characters and splitting at whitespace and ASCII
punctuation, and each distinct word is tokenized once by the tokenizer's own WordPiece model. Everything else
(other tokenizers, non-ASCII text, text that contains a special token) goes through the tokenizer itself. A test
checks both routes give the same counts.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_ASCII_WORD = re.compile(r"[a-z0-9]+|[!-/:-@\[-`{-~]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class TokenCounter:
    def __init__(self, spec: str) -> None:
        from lrat.retrieval.encoder import model_path

        folder = Path(model_path(spec))
        if not folder.is_dir():
            raise FileNotFoundError(f"tokenizer {spec!r}: not 'base', a Hugging Face id or a folder with a tokenizer")
        self._fast: Any = None
        self._words: dict[str, int] = {}
        self._specials: tuple[str, ...] = ()
        tokenizer_json = folder / "tokenizer.json"
        if tokenizer_json.exists():
            from tokenizers import Tokenizer

            self._tok = Tokenizer.from_file(str(tokenizer_json))
            self._tok.no_truncation()
            self._tok.no_padding()
            self._batch = lambda texts: [len(e.ids) for e in self._tok.encode_batch(texts, add_special_tokens=False)]
            self._setup_word_route(json.loads(tokenizer_json.read_text(encoding="utf-8")))
        else:  # a slow (Python) tokenizer only: transformers knows how to load it
            from transformers import AutoTokenizer

            auto = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
            self._batch = lambda texts: [len(ids) for ids in auto(list(texts), add_special_tokens=False,
                                                                  verbose=False)["input_ids"]]

    def _setup_word_route(self, config: dict[str, Any]) -> None:
        normalizer, pre = config.get("normalizer") or {}, config.get("pre_tokenizer") or {}
        if (normalizer.get("type") == "BertNormalizer" and normalizer.get("lowercase")
                and normalizer.get("strip_accents") in (None, True) and pre.get("type") == "BertPreTokenizer"
                and (config.get("model") or {}).get("type") == "WordPiece"):
            self._fast = self._tok.model
            self._specials = tuple(t["content"].lower() for t in config.get("added_tokens") or ())

    def _word_count(self, text: str) -> int | None:
        if not text.isascii():
            return None
        lowered = text.lower()
        if any(s in lowered for s in self._specials):
            return None
        pieces = _ASCII_WORD.findall(_CONTROL.sub("", lowered))
        counts = list(map(self._words.get, pieces))
        if None in counts:
            for word in pieces:
                if word not in self._words:
                    self._words[word] = len(self._fast.tokenize(word))
            counts = list(map(self._words.get, pieces))
        return sum(counts)  # type: ignore[arg-type]

    def count(self, texts: Sequence[str]) -> list[int]:
        out: list[int | None] = [self._word_count(t) for t in texts] if self._fast is not None else [None] * len(texts)
        rest = [i for i, n in enumerate(out) if n is None]
        if rest:
            for i, n in zip(rest, self._batch([texts[i] for i in rest]), strict=True):
                out[i] = n
        return out  # type: ignore[return-value]

    def count_exact(self, texts: Sequence[str]) -> list[int]:
        """Always through the tokenizer itself (what tests compare the word route against)."""
        return self._batch(list(texts))


def token_lengths(spec: str, texts: Sequence[str | None]) -> list[int | None]:
    """None stays None (no reasoning step: unknown length); ``""`` is 0 tokens."""
    wanted = [(i, t) for i, t in enumerate(texts) if t]
    out: list[int | None] = [None if t is None else 0 for t in texts]
    if wanted:
        counts = TokenCounter(spec).count([t for _, t in wanted])
        for (i, _), n in zip(wanted, counts, strict=True):
            out[i] = n
    return out
