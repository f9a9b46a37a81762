"""Chat-message logs: OpenAI chat-completions tool calls, Tongyi/WebSailor ReAct text tags and LangChain dicts
(``trajectory-formats.md`` §4, §6, §7, §9, §10).

Every assistant message gives, in order: at most one reasoning step (rule 2), its tool calls in listed order
(rule 1), and an answer step when it has text but no calls. Tool outputs are found among the messages between it
and the next assistant message: by ``tool_call_id`` first (parallel results come back in any order, pitfall 20),
then by position among the id-less ones (legacy ``function`` messages, ``<tool_response>`` blocks).
"""

from __future__ import annotations

import json
import re
from typing import Any

from lrat.ingest.context import RecordContext
from lrat.ingest.derive import UNPARSABLE
from lrat.ingest.results import parse_search_output
from lrat.ingest.schema import ID_KEYS, RecordError, Steps, new_record
from lrat.ingest.tools import browse_failure, browse_targets, parse_arguments, search_query, text_of

ROLES = ("system", "developer", "user", "assistant", "tool", "function", "ipython")
TOOL_ROLES = ("tool", "function", "ipython")
# Tongyi web tools join the outputs of a multi-query search / multi-URL visit with this line (§4).
SEPARATOR = "\n=======\n"

_TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
_TOOL_RESPONSE = re.compile(r"<tool_response>(.*?)</tool_response>", re.DOTALL)
_ANSWER = re.compile(r"<answer>(.*?)(?:</answer>|\Z)", re.DOTALL)
_NAME = re.compile(r"\"name\"\s*:\s*\"([^\"]+)\"")
_LC_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "function"}

Call = tuple[str, Any, str | None]  # (tool name, raw arguments, tool call id)


def _is_langchain(messages: list[Any]) -> bool:
    return bool(messages) and all(
        isinstance(m, dict) and "role" not in m and "type" in m and isinstance(m.get("data"), dict) for m in messages
    )


def looks_like_chat(record: Any) -> bool:
    """Any object with ``messages`` (a malformed list is then rejected with a clear reason), or a bare list whose
    first element is a role message or a LangChain ``{"type", "data"}`` dict."""
    if isinstance(record, dict):
        return "messages" in record
    if isinstance(record, list) and record and isinstance(record[0], dict):
        return "role" in record[0] or _is_langchain(record[:1])
    return False


def _from_langchain(messages: list[dict[str, Any]]) -> list[Any]:
    """``messages_to_dict`` output in chat shape: ``args`` dicts become arguments, thinking blocks reasoning."""
    out: list[Any] = []
    for i, m in enumerate(messages):
        kind, data = str(m["type"]), m["data"]
        role = data.get("role") if kind == "chat" else _LC_ROLES.get(kind.removesuffix("MessageChunk").lower())
        if role is None:
            raise RecordError(f"messages[{i}]: LangChain message type {kind!r} is not human, ai, system or tool")
        content = data.get("content")
        msg: dict[str, Any] = {"role": role, "content": content}
        if role == "tool":
            msg["tool_call_id"] = data.get("tool_call_id")
        if role == "assistant":
            blocks = content if isinstance(content, list) else []
            thinking = [b for b in blocks if isinstance(b, dict) and b.get("type") in ("thinking", "reasoning")]
            if thinking:
                msg["content"] = [b for b in blocks if b not in thinking]
            kwargs = data.get("additional_kwargs") if isinstance(data.get("additional_kwargs"), dict) else {}
            texts = [str(b.get("thinking") or b.get("reasoning") or text_of(b.get("summary")) or "") for b in thinking]
            if isinstance(kwargs.get("reasoning_content"), str):
                texts.insert(0, kwargs["reasoning_content"])
            if texts:
                msg["reasoning_content"] = "\n".join(t for t in texts if t.strip())
            calls = [*(data.get("tool_calls") or []), *(data.get("invalid_tool_calls") or [])]
            msg["tool_calls"] = [
                {"id": c.get("id"), "function": {"name": c.get("name"), "arguments": c.get("args")}}
                if isinstance(c, dict) else c
                for c in calls
            ] or kwargs.get("tool_calls")
            meta = data.get("response_metadata") if isinstance(data.get("response_metadata"), dict) else {}
            msg["finish_reason"] = meta.get("finish_reason") or meta.get("stop_reason")
        out.append(msg)
    return out


def _check(messages: Any) -> list[dict[str, Any]]:
    """Reject the whole record on the first malformed message: never import part of a log."""
    if not isinstance(messages, list):
        raise RecordError(f"'messages' is a JSON {type(messages).__name__}, expected a list of messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise RecordError(f"messages[{i}] is a JSON {type(m).__name__}, expected an object")
        if m.get("role") not in ROLES:
            raise RecordError(f"messages[{i}] has role {m.get('role')!r}; expected one of {', '.join(ROLES)}")
        calls = m.get("tool_calls")
        if calls is not None and not isinstance(calls, list):
            raise RecordError(f"messages[{i}]: tool_calls is a JSON {type(calls).__name__}, expected a list")
        for call in [*(calls or []), *([m["function_call"]] if m.get("function_call") is not None else [])]:
            fn = call.get("function", call) if isinstance(call, dict) else None
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"].strip():
                raise RecordError(f"messages[{i}]: tool call without a function name")
    return messages


def _split_think(text: str) -> tuple[list[str], str]:
    """``<think>`` blocks (stripped) and the rest. A leading ``…</think>`` with no opening tag (the chat template
    opened it in the prompt) and an unclosed ``<think>`` at the end (a truncated log) are blocks too."""
    blocks: list[str] = []
    head, sep, tail = text.partition("</think>")
    if sep and "<think>" not in head:
        blocks.append(head.strip())
        text = tail
    rest: list[str] = []
    pos = 0
    while (start := text.find("<think>", pos)) != -1:
        rest.append(text[pos:start])
        end = text.find("</think>", start)
        blocks.append(text[start + 7 : end if end != -1 else len(text)].strip())
        pos = end + 8 if end != -1 else len(text)
    rest.append(text[pos:])
    return blocks, "".join(rest)


def _text_calls(rest: str) -> list[Call]:
    """Tongyi ``<tool_call>`` blocks; a block that is not JSON stays a call (the model's error, not the log's)."""
    calls: list[Call] = []
    for body in _TOOL_CALL.findall(rest):
        body = body.strip()
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):
            value = None
        if isinstance(value, dict) and isinstance(value.get("name"), str) and value["name"].strip():
            calls.append((value["name"].strip(), value.get("arguments", value.get("parameters")), None))
        elif "<code>" in body:  # Tongyi's PythonInterpreter: "python\n<code>…</code>"
            calls.append(("PythonInterpreter", {"code": body.split("<code>", 1)[1].split("</code>", 1)[0]}, None))
        else:
            name = _NAME.search(body)
            calls.append((name.group(1).strip() if name else "invalid_tool_call", body, None))
    return calls


def _structured_calls(msg: dict[str, Any]) -> list[Call]:
    calls: list[Call] = []
    for call in [*(msg.get("tool_calls") or []), *([msg["function_call"]] if msg.get("function_call") else [])]:
        fn = call.get("function", call)
        call_id = call.get("id")
        calls.append((fn["name"].strip(), fn.get("arguments"), None if call_id is None else str(call_id)))
    return calls


def _outputs(calls: list[Call], block: list[dict[str, Any]]) -> list[str | None]:
    """Each call's output: the tool message with its id, else the next id-less output in order, else None."""
    by_id: dict[str, list[str | None]] = {}
    pool: list[str | None] = []
    for m in block:
        if m["role"] in TOOL_ROLES:
            text = text_of(m.get("content"))
            if m.get("tool_call_id") is not None:
                by_id.setdefault(str(m["tool_call_id"]), []).append(text)
            else:
                pool.append(text)
        elif m["role"] == "user":
            pool.extend(r.strip() for r in _TOOL_RESPONSE.findall(text_of(m.get("content")) or ""))
    outputs: list[str | None] = []
    for _, _, call_id in calls:
        if call_id is not None and by_id.get(call_id):
            outputs.append(by_id[call_id].pop(0))
        else:
            outputs.append(pool.pop(0) if pool else None)
    return outputs


def _parts(output: str | None, n: int) -> list[str | None] | None:
    """The per-query / per-URL outputs of a Tongyi web call, or None when the output is not split that way."""
    if n < 2 or not isinstance(output, str) or SEPARATOR not in output:
        return None
    parts = output.split(SEPARATOR)
    return parts if len(parts) == n else None


def _add_call(steps: Steps, name: str, raw: Any, output: str | None, ctx: RecordContext) -> None:
    kind = ctx.tools.kind(name)
    args = parse_arguments(raw)
    if kind == "search":
        query, requested = search_query(args, ctx.tools)
        if len(requested) < 2 or not isinstance(output, str) or SEPARATOR not in output:
            steps.search(query, requested, *parse_search_output(output, ctx.corpus))  # rule 3: first query only
            return
        parts = _parts(output, len(requested))
        if parts is None:  # the web separator, but not one part per query: keep the lot on the first query
            steps.search(requested[0], requested[:1], *parse_search_output(output, ctx.corpus))
            for q in requested[1:]:
                steps.search(q, [q], None, UNPARSABLE)
            return
        for q, part in zip(requested, parts, strict=True):
            steps.search(q, [q], *parse_search_output(part, ctx.corpus))
    elif kind == "browse":
        targets = browse_targets(args, ctx.tools)
        parts = _parts(output, len(targets)) or [output] * len(targets)
        for (docid, url), part in zip(targets, parts, strict=True):
            failure = browse_failure(part)
            if url is not None:
                docid = ctx.corpus.resolve_url(url) if ctx.corpus is not None else None
                if docid is None:
                    steps.browse(None, url, False, "URL not in the corpus")
                    continue
            steps.browse(docid, url, failure is None, failure)
    else:
        steps.other_tool(name, args if args is not None else raw, output)


def _reasoning(msg: dict[str, Any], blocks: list[str], rest: str | None) -> str | None:
    """Rule 2: the reasoning field, the ``<think>`` blocks, then (only beside calls) the rest of the content."""
    field = msg.get("reasoning_content")
    field = msg.get("reasoning") if field is None else field
    present = [field if isinstance(field, str) else text_of(field)] if isinstance(field, (str, list)) else []
    present += blocks + ([rest.strip()] if rest is not None else [])
    if not present:
        return None
    return "\n".join(p for p in present if p and p.strip())


def _answer(rest: str) -> str:
    inner = _ANSWER.search(rest)
    return (inner.group(1) if inner else rest).strip()


def parse_chat(record: Any, ctx: RecordContext) -> dict[str, Any]:
    meta: dict[str, Any] = record if isinstance(record, dict) else {}
    if isinstance(record, list):
        messages: Any = record
    elif isinstance(record, dict):
        if "messages" not in record:
            raise RecordError(f"a chat record needs a 'messages' list; keys found: {', '.join(sorted(record))}")
        messages = record["messages"]
    else:
        raise RecordError(f"a chat log is a JSON object or a list of messages, found a JSON {type(record).__name__}")
    langchain = isinstance(messages, list) and _is_langchain(messages)
    messages = _check(_from_langchain(messages) if langchain else messages)
    tongyi = "termination" in meta or "prediction" in meta
    steps = Steps()
    final: str | None = None
    for i, msg in enumerate(messages):
        final = None
        if msg["role"] != "assistant":
            continue
        content = text_of(msg.get("content"))
        blocks, rest = _split_think(content) if isinstance(content, str) else ([], None)
        calls = _structured_calls(msg)
        if not calls and rest is not None and "<tool_call>" in rest:
            calls, tongyi = _text_calls(rest), True
            rest = _TOOL_CALL.sub("", rest).split("<tool_call>", 1)[0]  # a cut-off call is no answer
        text = _reasoning(msg, blocks, rest if calls else None)
        if text is not None:
            steps.reasoning(text)
        if calls:
            end = next((j for j in range(i + 1, len(messages)) if messages[j]["role"] == "assistant"), len(messages))
            for (name, raw, _), output in zip(calls, _outputs(calls, messages[i + 1 : end]), strict=True):
                _add_call(steps, name, raw, output, ctx)
        elif rest is not None and (final := _answer(rest)):
            steps.answer(final)
    final = final or None
    last = messages[-1] if messages else {}
    if "termination" in meta:
        status_raw = None if meta["termination"] is None else str(meta["termination"])
    else:
        raw = meta.get("finish_reason") or last.get("finish_reason")
        status_raw = None if raw is None else str(raw)
    if not any(m["role"] == "assistant" for m in messages):
        status = "failed"
    elif "termination" in meta:
        status = "completed" if status_raw == "answer" and final is not None else "incomplete"
    else:
        status = "completed" if final is not None and status_raw != "length" else "incomplete"
    question = next((meta[k] for k in ("question", "query") if isinstance(meta.get(k), str)), None)
    if question is None:
        users = (text_of(m.get("content")) for m in messages if m["role"] == "user")
        question = next((u for u in users if u is not None and "<tool_response>" not in u), None)
    query_id = next((meta[k] for k in ID_KEYS if meta.get(k) is not None), None)
    gold = meta.get("answer")
    return new_record(
        "openai-chat",
        ctx,
        steps=steps,
        status=status,
        status_raw=status_raw,
        query_id=query_id if isinstance(query_id, (str, int)) else None,
        question=question,
        gold_answer=gold if isinstance(gold, str) else None,
        answer_text=final,
        writer="tongyi-react" if tongyi else ("langchain" if langchain else "openai-chat"),
        model=str(meta["model"]) if meta.get("model") is not None else None,
    )
