"""``lrat analyze``: normalized trajectories → ``analysis.json`` + PNG plots + ``report.md``.

The trajectories file is streamed (one record per line), so a large ingest output is measured without loading it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lrat.analyze.stats import compute_stats
from lrat.io import read_jsonl, write_json

_REGEX_TOKEN = re.compile(r"\w+|[^\w\s]")


class TokenizerError(ValueError):
    """The --tokenizer path holds no loadable tokenizer: a usage error (exit 2), not a data error."""


def regex_token_count(text: str) -> int:
    """Fast stand-in for a subword tokenizer: words and single punctuation marks."""
    return len(_REGEX_TOKEN.findall(text))


def token_counter(tokenizer: str | None) -> tuple[str, Callable[[str], int]]:
    """``(name, count)``: the regex approximation, or a Hugging Face tokenizer loaded from a local path."""
    if tokenizer is None:
        return "regex", regex_token_count
    if not Path(tokenizer).exists():
        raise TokenizerError(f"no such tokenizer directory: {tokenizer}")
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(tokenizer), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise TokenizerError(f"cannot load a tokenizer from {tokenizer}: {exc}") from None

    def count(text: str) -> int:
        # verbose=False: lengths past model_max_length are fine here, we only count
        return len(tok(text, add_special_tokens=False, verbose=False)["input_ids"])

    return str(tokenizer), count


def load_qrels_evidence(path: Path) -> dict[str, set[str]]:
    """TREC qrels ``qid 0 docid rel`` → {qid: docids with rel > 0}; every judged query appears, even with none."""
    evidence: dict[str, set[str]] = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            try:
                qid, _, docid, rel = parts
                positive = float(rel) > 0
            except ValueError:
                msg = f"{path}:{lineno}: not a TREC qrels line 'qid 0 docid rel': {line.strip()!r}"
                raise ValueError(msg) from None
            docs = evidence.setdefault(qid, set())
            if positive:
                docs.add(docid)
    return evidence


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Normalized records of a JSONL file, lazily; a broken line stops the analysis with its file and line."""
    for lineno, record in read_jsonl(path):
        steps = record.get("steps") if isinstance(record, dict) else None
        if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
            raise ValueError(f"{path}:{lineno}: not a normalized trajectory record (needs a 'steps' list of "
                             f"objects; run `lrat ingest` first)")
        yield record


def analyze(
    trajectories: Path,
    out: Path,
    qrels_evidence: Path | None = None,
    tokenizer: str | None = None,
) -> dict[str, Any]:
    """Measure ``trajectories`` against the paper; writes analysis.json, the plots and report.md into ``out``."""
    from lrat.analyze.plots import write_plots
    from lrat.analyze.report import write_report

    trajectories, out = Path(trajectories), Path(out)
    evidence = load_qrels_evidence(Path(qrels_evidence)) if qrels_evidence is not None else None
    name, count = token_counter(tokenizer)
    stats = compute_stats(read_records(trajectories), evidence, count, tokenizer_name=name)
    write_json(out / "analysis.json", stats)
    plots = write_plots(stats, out)
    write_report(stats, out / "report.md", plots, source=trajectories)
    return stats
