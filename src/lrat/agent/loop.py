"""One question, one tool-calling conversation, one BC+ run record (the openai-client layout: ``reasoning`` items
carry ``[{"text", "type": "summary_text"}]``, tool calls keep the model's raw argument string)."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from lrat.agent.chat import ChatClient, ChatError, Usage
from lrat.agent.tools import TOOLS, ToolBox

DEFAULT_SYSTEM_PROMPT = (
    "You are a deep-research assistant. Answer the user's question using the search and get_document tools: "
    "search with short queries, open the documents that look useful, and keep going until you are sure. Cite the "
    "documents you used as [docid]. End with exactly these three lines:\n"
    "Explanation: {your explanation, citing [docid]s}\nExact Answer: {your succinct, final answer}\n"
    "Confidence: {your confidence in the answer, 0-100%}"
)
_THINK = re.compile(r"<think>(.*?)</think>", re.S)


@dataclass(frozen=True)
class RunSettings:
    max_turns: int = 30
    system_prompt: str = DEFAULT_SYSTEM_PROMPT


def split_reasoning(message: dict[str, Any]) -> tuple[str, str]:
    """(reasoning, visible content) of an assistant message: ``reasoning_content`` / ``reasoning`` fields (vLLM,
    SGLang, OpenRouter) and ``<think>`` blocks in the content (a template may leave only the closing tag)."""
    parts = [message[key] for key in ("reasoning_content", "reasoning") if isinstance(message.get(key), str)]
    content = message.get("content") if isinstance(message.get("content"), str) else ""
    parts += [m.strip() for m in _THINK.findall(content)]
    content = _THINK.sub("", content)
    if "</think>" in content:
        head, content = content.rsplit("</think>", 1)
        parts.append(head.replace("<think>", "").strip())
    return "\n\n".join(p.strip() for p in parts if p and p.strip()), content.strip()


def _item(kind: str, output: Any, tool: str | None = None, args: str | None = None) -> dict[str, Any]:
    return {"type": kind, "tool_name": tool, "arguments": args, "output": output}


def run_question(client: ChatClient, tools: ToolBox, qid: str, question: str, settings: RunSettings,
                 metadata: dict[str, Any]) -> dict[str, Any]:
    """The run record; ChatError propagates when the LLM cannot be reached (the caller counts the failure), except
    a context-limit refusal, which ends the run as ``incomplete``."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": settings.system_prompt},
                                      {"role": "user", "content": question}]
    items: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    seen: set[str] = set()
    usage = Usage()
    status, ended = "incomplete", "turn budget"
    for _ in range(settings.max_turns):
        try:
            reply = client.complete(messages, TOOLS)
        except ChatError as exc:
            if exc.kind != "context":
                raise
            ended = "context limit"
            break
        usage.add(reply.get("usage"))
        message = reply["choices"][0]["message"]
        reasoning, content = split_reasoning(message)
        calls = [c for c in message.get("tool_calls") or [] if isinstance(c, dict)]
        if calls and content:  # text beside tool calls is thinking aloud, not the answer
            reasoning, content = "\n\n".join(p for p in (reasoning, content) if p), ""
        if reasoning:
            items.append(_item("reasoning", [{"text": reasoning, "type": "summary_text"}]))
        if not calls:
            items.append(_item("output_text", content))
            status, ended = "completed", "answer"
            break
        messages.append({"role": "assistant", "content": message.get("content"), "tool_calls": calls})
        for call in calls:  # answered in order, each with its tool_call_id
            function = call.get("function") if isinstance(call.get("function"), dict) else {}
            name = str(function.get("name") or "")
            raw = function.get("arguments")
            output, info = tools.call(name, raw)
            counts[name or "<unnamed>"] += 1
            seen.update(info["docids"])
            items.append(_item("tool_call", output, name or "<unnamed>",
                               raw if isinstance(raw, str) or raw is None else json.dumps(raw)))
            messages.append({"role": "tool", "tool_call_id": call.get("id"), "content": output})
    record: dict[str, Any] = {"metadata": {**metadata, "max_turns": settings.max_turns, "ended": ended},
                              "query_id": qid, "tool_call_counts": dict(counts), "status": status,
                              "retrieved_docids": sorted(seen), "result": items}
    if (tokens := usage.as_dict()) is not None:
        record["usage"] = tokens
    return record


def final_answer(record: dict[str, Any]) -> str | None:
    """The ``Exact Answer:`` of the final output (the whole output when the line is missing); None if unanswered."""
    result = record.get("result") or []
    if record.get("status") != "completed" or not result or result[-1].get("type") != "output_text":
        return None
    text = str(result[-1].get("output") or "")
    found = re.search(r"Exact Answer:\s*(.+)", text)
    return (found.group(1) if found else text).strip() or None
