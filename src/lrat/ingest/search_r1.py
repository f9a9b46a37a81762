"""Search-R1 tag transcripts and their ASearcher ``<access>`` variant (``trajectory-formats.md`` §3, §5, §9, §10).

A transcript is free text: ``<think>``, ``<search>``, ``<information>``, ``<access>`` and ``<answer>`` tags in
generation order. Saved transcripts often still hold the prompt, whose instruction quotes those same tags, and the
loop's corrective observation quotes them too; both are cut out before the tags are read.
"""

from __future__ import annotations

import re
from typing import Any

from lrat.ingest.context import RecordContext
from lrat.ingest.results import parse_search_output
from lrat.ingest.schema import ID_KEYS, RecordError, Steps, new_record
from lrat.ingest.tools import browse_failure, is_url, normalize_docid

TRANSCRIPT_KEYS = ("output", "response", "text", "transcript", "trajectory", "generation", "completion")
QUESTION_KEYS = ("question", "query", "problem")
GOLD_KEYS = ("golden_answers", "answer")

NO_RESULTS = "no search results in the transcript"
NO_PAGE = "no page content in the transcript"

_TAG = re.compile(r"<\s*(/?)\s*(think|search|information|answer|access)\s*>", re.IGNORECASE)
_LOOKS = re.compile(r"<\s*(?:search|answer|think)\s*>", re.IGNORECASE)
# Upstream's corrective observation quotes <search>/<answer>; a truncated one runs to the end of the text (§3.5).
_CORRECTIVE = re.compile(r"My previous action is invalid\..*?(?:Let me try again\.|\Z)", re.DOTALL)
# Chat-template special tokens (<|im_end|>, <|eot_id|>, ...) end a turn, so they also end an unclosed tag.
_SPECIAL = re.compile(r"<\|[A-Za-z0-9_]{1,40}\|>")
_ASSISTANT = re.compile(r"<\|im_start\|>\s*assistant\b|<\|start_header_id\|>\s*assistant\s*<\|end_header_id\|>")
# The Search-R1 instruction ends "... For example, <answer> Beijing </answer>. Question: <question>\n" (the line
# may also end at a chat special token).
_INSTRUCTION = re.compile(
    r"For example,\s*<answer>[^<]{0,200}</answer>\.?(?:[ \t]*(?:\r?\n[ \t]*)?Question:[ \t]*((?:(?!<\|)[^\n])*))?"
)


def _transcript(record: dict[str, Any]) -> str:
    for key in TRANSCRIPT_KEYS:
        if isinstance(record.get(key), str):
            return record[key]
    keys = ", ".join(sorted(map(str, record))[:20]) or "none"
    raise RecordError(
        f"no Search-R1 transcript: expected a string in one of {', '.join(TRANSCRIPT_KEYS)}; keys found: {keys}"
    )


def looks_like_search_r1(record: Any) -> bool:
    """A string, or an object with a transcript field, that holds Search-R1 action or reasoning tags."""
    if isinstance(record, str):
        return bool(_LOOKS.search(record))
    if isinstance(record, dict):
        text = next((record[k] for k in TRANSCRIPT_KEYS if isinstance(record.get(k), str)), None)
        return text is not None and bool(_LOOKS.search(text))
    return False


def _body_start(text: str) -> tuple[int, str | None]:
    """Where the model's own text begins, and the question the instruction quoted (if any).

    The prompt quotes every tag, so scanning starts after the instruction's example answer and its ``Question:``
    line, and after the first assistant turn marker that follows (multi-turn renders keep later turns).
    """
    start, question = 0, None
    instruction = _INSTRUCTION.search(text)
    if instruction is not None:
        start = instruction.end()
        question = (instruction.group(1) or "").strip() or None
    assistant = _ASSISTANT.search(text, start)
    if assistant is not None:
        start = assistant.end()
    return start, question


def _events(text: str) -> list[tuple[str, str]]:
    """``(tag, content)`` in order; an unclosed tag ends at the next opening tag or the end of the text.

    ``<information>`` is the exception while it is closed: a retrieved page may itself mention tags.
    """
    tags = list(_TAG.finditer(text))
    events: list[tuple[str, str]] = []
    i = 0
    while i < len(tags):
        tag = tags[i]
        name = tag.group(2).lower()
        if tag.group(1):  # a closing tag without its opener
            i += 1
            continue
        end, resume = len(text), len(tags)
        if name == "information":
            for j in range(i + 1, len(tags)):
                closing, other = tags[j].group(1), tags[j].group(2).lower()
                if other == "information":
                    if closing:
                        end, resume = tags[j].start(), j + 1
                    break
        if resume == len(tags):
            for j in range(i + 1, len(tags)):
                closing, other = tags[j].group(1), tags[j].group(2).lower()
                if closing and other == name:
                    end, resume = tags[j].start(), j + 1
                    break
                if not closing:
                    end, resume = tags[j].start(), j
                    break
        events.append((name, text[tag.end() : end]))
        i = resume
    return events


def _scan(text: str) -> list[tuple[str, str]]:
    """Events of every piece between corrective observations and chat special tokens (each ends open tags)."""
    events: list[tuple[str, str]] = []
    for piece in _SPECIAL.split(_CORRECTIVE.sub("<|cut|>", text)):
        events.extend(_events(piece))
    return events


def _following_information(events: list[tuple[str, str]], pos: int) -> str | None:
    """The first ``<information>`` after an action, unless another action comes first."""
    for i in range(pos + 1, len(events)):  # no slicing: a copy per action would be quadratic
        name, body = events[i]
        if name == "information":
            return body
        if name in ("search", "access", "answer"):
            return None
    return None


def _browse(steps: Steps, target: str, info: str | None, ctx: RecordContext) -> None:
    """§9.4: a URL maps through the corpus (unknown: docid null, not found); a bare docid is taken as is."""
    url: str | None = target
    if is_url(target):
        docid = ctx.corpus.resolve_url(target) if ctx.corpus is not None else None
        if docid is None:
            why = "URL not in the corpus" if ctx.corpus is not None else "no corpus to resolve the URL"
            steps.browse(None, target, False, why)
            return
    else:
        docid, url = normalize_docid(target), None
        if docid is None:
            steps.browse(None, None, False, "empty <access> target")
            return
    failure = NO_PAGE if info is None else browse_failure(info)
    steps.browse(docid, url, failure is None, failure)


def _steps(events: list[tuple[str, str]], ctx: RecordContext) -> tuple[Steps, str | None]:
    steps = Steps()
    answer: str | None = None
    for pos, (name, body) in enumerate(events):
        if name == "think":
            steps.reasoning(body.strip())
        elif name == "search":
            query = body.strip()
            info = _following_information(events, pos)
            results, error = (None, NO_RESULTS) if info is None else parse_search_output(info, ctx.corpus)
            steps.search(query, [query], results, error)
        elif name == "access":
            _browse(steps, body.strip(), _following_information(events, pos), ctx)
        elif name == "answer":
            answer = body.strip()
            steps.answer(answer)
    return steps, answer


def _scalar(record: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first usable value among ``keys``: a string or number, or the first element of a list of them."""
    for key in keys:
        value = record.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if isinstance(value, str) and value.strip():
            return value.strip()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    return None


def parse_search_r1(record: Any, ctx: RecordContext) -> dict[str, Any]:
    """One transcript (a ``.txt`` file's text, or one JSONL object holding it) to a normalized record."""
    if isinstance(record, str):
        meta: dict[str, Any] = {}
        text = record
    elif isinstance(record, dict):
        meta, text = record, _transcript(record)
    else:
        raise RecordError(
            f"a Search-R1 record is a transcript string or a JSON object, found a JSON {type(record).__name__}"
        )
    start, quoted_question = _body_start(text)
    events = _scan(text[start:])
    steps, answer = _steps(events, ctx)
    if answer is not None:
        status = "completed"
    elif not steps.items:
        status = "failed"
    else:
        status = "incomplete"
    question = _scalar(meta, QUESTION_KEYS) or quoted_question
    if question is None and isinstance(meta.get("prompt"), str):
        question = _body_start(meta["prompt"])[1]
    model = meta.get("model")
    return new_record(
        "search-r1",
        ctx,
        steps=steps,
        status=status,
        status_raw=None,
        query_id=_scalar(meta, ID_KEYS),
        question=question,
        gold_answer=_scalar(meta, GOLD_KEYS),
        answer_text=answer,
        writer="asearcher" if any(name == "access" for name, _ in events) else "search-r1",
        model=model if isinstance(model, str) else None,
    )
