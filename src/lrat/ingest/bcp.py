"""BrowseComp-Plus run files, every client (``trajectory-formats.md`` §2.3–§2.5), the LRAT Tongyi fork included.

One parser with per-client details folded into the shared helpers: arguments may be JSON strings or dicts, search
output a JSON list, concatenated objects, ``DocID:`` lines or rendered text; reasoning a list or a string.
"""

from __future__ import annotations

from typing import Any

from lrat.ingest.context import RecordContext
from lrat.ingest.results import parse_search_output
from lrat.ingest.schema import RecordError, Steps, new_record
from lrat.ingest.tools import browse_failure, browse_targets, parse_arguments, search_query, text_of

ITEM_TYPES = ("reasoning", "tool_call", "output_text")


def looks_like_bcp(record: Any) -> bool:
    return isinstance(record, dict) and "result" in record and "messages" not in record


def _check_items(result: Any) -> list[dict[str, Any]]:
    """The whole record is rejected on the first malformed item: never import part of a run (§2.4)."""
    if not isinstance(result, list):
        raise RecordError(f"'result' is a JSON {type(result).__name__}, expected a list of steps")
    for i, item in enumerate(result):
        if not isinstance(item, dict):
            raise RecordError(f"result[{i}] is a JSON {type(item).__name__}, expected an object")
        kind = item.get("type")
        if kind not in ITEM_TYPES:
            raise RecordError(f"result[{i}] has type {kind!r}; expected one of {', '.join(ITEM_TYPES)}")
        name = item.get("tool_name")
        if kind == "tool_call" and (not isinstance(name, str) or not name.strip()):
            raise RecordError(f"result[{i}] is a tool_call without a tool_name")
    return result


def _reasoning_text(output: Any, i: int) -> str:
    """``[{text,type}]``, ``[str]``, ``str`` or ``[]`` (pitfall §11.5); parts joined with a newline."""
    if output is None:
        return ""
    if isinstance(output, str):
        return output
    if isinstance(output, dict):
        output = [output]
    if not isinstance(output, list):
        raise RecordError(f"result[{i}] (reasoning) has output of type {type(output).__name__}")
    parts = []
    for part in output:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            parts.append(part["text"])
        else:
            raise RecordError(f"result[{i}] (reasoning) has a part that is neither text nor {{text, type}}")
    return "\n".join(parts)


def _tool_output(output: Any) -> str | None:
    return output if output is None or isinstance(output, str) else text_of(output)


def _add_tool_call(steps: Steps, item: dict[str, Any], ctx: RecordContext) -> None:
    name = item["tool_name"].strip()
    kind = ctx.tools.kind(name)
    args = parse_arguments(item.get("arguments"))
    output = item.get("output")
    if kind == "search":
        query, requested = search_query(args, ctx.tools)
        results, error = parse_search_output(output, ctx.corpus)
        steps.search(query, requested, results, error)
    elif kind == "browse":
        failure = browse_failure(output)
        for docid, url in browse_targets(args, ctx.tools):
            if url is not None:
                docid = ctx.corpus.resolve_url(url) if ctx.corpus is not None else None
                if docid is None:
                    steps.browse(None, url, False, "URL not in the corpus")
                    continue
            steps.browse(docid, url, failure is None, failure)
    else:
        steps.other_tool(name, args if args is not None else item.get("arguments"), _tool_output(output))


def _writer(record: dict[str, Any], result: list[dict[str, Any]]) -> str:
    meta = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
    names = {str(i.get("tool_name")).lower() for i in result if i["type"] == "tool_call"}
    if "searcher_type" in meta or "tool_call_counts_all" in record:
        lrat_fork = names & {"get_document", "visit"} or any(
            isinstance(i.get("output"), str) and "DocID:" in i["output"] for i in result if i["type"] == "tool_call"
        )
        return "tongyi-lrat" if lrat_fork else "tongyi"
    if "local_knowledge_base_retrieval" in names:
        return "oss"
    if "thinking" in meta or "pause_restarts" in meta or "raw_response" in record and "max_output_tokens" in meta:
        return "mcp"
    if isinstance(meta.get("reasoning"), dict):
        return "openai"
    return "bcp"


def _retriever(meta: dict[str, Any]) -> str | None:
    """``searcher_type`` (Tongyi writers), else the ``runs/<retriever>/<model>`` convention of ``output_dir``."""
    if isinstance(meta.get("searcher_type"), str):
        return meta["searcher_type"]
    parts = str(meta.get("output_dir") or "").strip("/").split("/")
    if "runs" in parts and parts.index("runs") + 1 < len(parts) - 1:
        return parts[parts.index("runs") + 1]
    return None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_bcp(record: Any, ctx: RecordContext) -> dict[str, Any]:
    if not isinstance(record, dict):
        raise RecordError(f"a BC+ run is a JSON object, found a JSON {type(record).__name__}")
    if "result" not in record:
        raise RecordError(f"a BC+ run needs a 'result' list; keys found: {', '.join(sorted(record)) or 'none'}")
    result = _check_items(record["result"])
    steps = Steps()
    answer: str | None = None
    for i, item in enumerate(result):
        kind = item["type"]
        if kind == "reasoning":
            steps.reasoning(_reasoning_text(item.get("output"), i))
        elif kind == "output_text":
            answer = _tool_output(item.get("output")) or ""
            steps.answer(answer)
        else:
            _add_tool_call(steps, item, ctx)
    raw = record.get("status")
    status_raw = None if raw is None else str(raw)
    if not result:
        status = "failed"
    elif status_raw == "completed" and result[-1]["type"] == "output_text":
        status = "completed"
    else:
        status = "incomplete"  # pitfall §11.7: "completed" that ends in a tool call has no answer
    final = answer if result and result[-1]["type"] == "output_text" else None
    meta = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
    question = record.get("query", record.get("question"))
    gold = record.get("answer")
    return new_record(
        "bcp",
        ctx,
        steps=steps,
        status=status,
        status_raw=status_raw,
        query_id=record.get("query_id"),
        question=question if isinstance(question, str) else None,
        gold_answer=gold if isinstance(gold, str) else None,
        answer_text=final,
        writer=_writer(record, result),
        model=str(meta["model"]) if meta.get("model") is not None else None,
        retriever=_retriever(meta),
        snippet_max_tokens=_int_or_none(meta.get("snippet_max_tokens")),
        k=_int_or_none(meta.get("k")),
    )
