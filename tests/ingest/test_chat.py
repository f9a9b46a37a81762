"""Chat-message logs (OpenAI tool calls, Tongyi ReAct tags, LangChain dicts): trajectory-formats.md §4, §6, §7, §9."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrat.ingest.chat import looks_like_chat, parse_chat
from lrat.ingest.context import RecordContext
from lrat.ingest.corpus import CorpusIndex
from lrat.ingest.derive import UNPARSABLE, derive
from lrat.ingest.detect import detect
from lrat.ingest.schema import RecordError

from .helpers import browses, hits, kinds, searches

# --- builders ----------------------------------------------------------------------------------------------------


def call(cid: str | None, name: str, args: Any) -> dict[str, Any]:
    arguments = args if isinstance(args, str) else json.dumps(args)
    out: dict[str, Any] = {"type": "function", "function": {"name": name, "arguments": arguments}}
    if cid is not None:
        out["id"] = cid
    return out


def asst(content: Any = None, calls: list[dict] | None = None, **extra: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "assistant", "content": content, **extra}
    if calls is not None:
        msg["tool_calls"] = calls
    return msg


def tool(cid: str | None, content: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {"role": "tool", "content": content}
    if cid is not None:
        msg["tool_call_id"] = cid
    return msg


def doc(docid: str) -> str:
    return json.dumps({"docid": docid, "text": "some text"})


def chat(messages: list[Any], corpus: CorpusIndex | None = None, **extra: Any) -> dict[str, Any]:
    record = {"query_id": "7", "messages": [{"role": "user", "content": "Q?"}, *messages], **extra}
    return derive(parse_chat(record, RecordContext(path="log.jsonl", line=1, corpus=corpus)))


def texts(record: dict[str, Any], kind: str = "reasoning") -> list[str]:
    return [s["text"] for s in record["steps"] if s["kind"] == kind]


def web_corpus() -> CorpusIndex:
    corpus = CorpusIndex()
    corpus.add("1001", "Ilse Marrow\nbio", "Ilse Marrow", "https://wiki.example.org/wiki/Ilse_Marrow")
    corpus.add("1003", "Blue saxifrage\nplant", "Blue saxifrage", "http://wiki.example.org/wiki/Blue_saxifrage/")
    corpus.add("1005", "MV Tarrow Gull\nferry", "MV Tarrow Gull", "https://wiki.example.org/wiki/MV_Tarrow_Gull")
    return corpus


def tongyi(messages: list[dict], corpus: CorpusIndex | None = None, **extra: Any) -> dict[str, Any]:
    record = {"question": "Which ferry?", "answer": "MV Tarrow Gull", "messages": messages, **extra}
    record.setdefault("termination", "answer")
    return derive(parse_chat(record, RecordContext(path="iter1.jsonl", line=3, corpus=corpus or web_corpus())))


def t_call(name: str, arguments: Any, think: str = "plan") -> dict[str, str]:
    body = json.dumps({"name": name, "arguments": arguments})
    return {"role": "assistant", "content": f"<think>{think}</think>\n<tool_call>\n{body}\n</tool_call>"}


def t_resp(*outputs: str) -> dict[str, str]:
    return {"role": "user", "content": "\n".join(f"<tool_response>\n{o}\n</tool_response>" for o in outputs)}


def web_results(query: str, *links: tuple[str, str]) -> str:
    items = "\n\n".join(f"{i}. [{t}]({u})\nsnippet of {t}" for i, (t, u) in enumerate(links, 1))
    return f"A Google search for '{query}' found {len(links)} results:\n\n## Web Results\n{items}"


def page(url: str, found: bool = True) -> str:
    evidence = "She recorded it on Kelda Island." if found else (
        "The provided webpage content could not be accessed. Please check the URL or file format."
    )
    return (
        f"The useful information in {url} for user goal g as follows: \n\n"
        f"Evidence in page: \n{evidence}\n\nSummary: \nx"
    )


T_ANSWER = {
    "role": "assistant",
    "content": "<think>Kelda Island is served by MV Tarrow Gull.</think>\n<answer>MV Tarrow Gull</answer>",
}
SEP = "\n=======\n"


# --- OpenAI chat-completions ---------------------------------------------------------------------------------------


def test_parallel_results_out_of_order_matched_by_id_and_reasoning_after():
    rec = chat([
        asst(None, [call("c1", "search", {"query": "botanist"})], reasoning_content="search first"),
        tool("c1", hits("1001", "1003", "1004")),
        asst(None, [call("c2", "get_document", {"docid": "1001"}), call("c3", "get_document", {"docid": "1004"})],
             reasoning_content="open both"),
        tool("c3", json.dumps({"error": "Document with docid '1004' not found"})),
        tool("c2", doc("1001")),
        asst("Exact Answer: MV Tarrow Gull", reasoning_content="it is the ferry"),
    ], finish_reason="stop", model="qwen3")
    assert kinds(rec) == ["reasoning", "search", "reasoning", "browse", "browse", "reasoning", "answer"]
    first, second = browses(rec)
    assert (first["docid"], first["found"], first["attributed_search"]) == ("1001", True, 1)
    assert (second["docid"], second["found"]) == ("1004", False)  # c3's error, although it came back first
    assert first["reasoning_after"] is None and second["reasoning_after"] == "it is the ferry"
    assert rec["status"] == "completed" and rec["status_raw"] == "stop"
    assert rec["final_answer"]["exact"] == "MV Tarrow Gull"
    assert texts(rec, "answer") == ["Exact Answer: MV Tarrow Gull"]
    assert rec["warnings"] == ["browse_failed:1004"]
    assert rec["query_id"] == "7" and rec["question"] == "Q?" and rec["source"]["model"] == "qwen3"
    assert rec["source"]["format"] == "openai-chat" and rec["source"]["writer"] == "openai-chat"
    assert rec["trajectory_id"] == "openai-chat:log.jsonl#1"


def test_invalid_json_arguments_keep_the_results_and_the_raw_string():
    rec = chat([
        asst(None, [call("a", "search", '{"query": "unterminated'), call("b", "python", "print(1")]),
        tool("b", "1"),
        tool("a", hits("5", "6")),
        asst("done"),
    ])
    (s,) = searches(rec)
    assert s["query"] is None and s["queries_requested"] == []
    assert [r["docid"] for r in s["results"]] == ["5", "6"]
    other = rec["steps"][-2]
    assert other == {"kind": "other_tool", "idx": 1, "name": "python", "arguments": "print(1", "output": "1"}


def test_other_tool_gets_parsed_arguments_and_block_content_text():
    rec = chat([
        asst(None, [call("a", "calculator", {"x": 1})]),
        tool("a", [{"type": "text", "text": "two"}, {"type": "text", "text": "lines"}]),
        asst("2"),
    ])
    (step,) = [s for s in rec["steps"] if s["kind"] == "other_tool"]
    assert step["arguments"] == {"x": 1} and step["output"] == "two\nlines"


@pytest.mark.parametrize(
    ("msg", "expected"),
    [
        (asst("<think> a </think> visible ", [call("x", "t", {})], reasoning_content="rc"), ["rc\na\nvisible"]),
        (asst("<think>a</think><think>b</think>", [call("x", "t", {})], reasoning_content="  "), ["a\nb"]),
        (asst("", [call("x", "t", {})]), [""]),  # present but empty
        (asst("<think> </think>  ", [call("x", "t", {})], reasoning_content=""), [""]),
        (asst(None, [call("x", "t", {})]), []),  # nothing present: no step
        (asst("  plain thinking next to a call  ", [call("x", "t", {})]), ["plain thinking next to a call"]),
        (asst(None, [call("x", "t", {})], reasoning="vllm 0.11"), ["vllm 0.11"]),
        (asst(None, [call("x", "t", {})], reasoning_content="rc wins", reasoning="other"), ["rc wins"]),
        (asst(None, [call("x", "t", {})], reasoning_content=[{"type": "text", "text": "a"}, "b"]), ["a\nb"]),
        (asst("hidden by template</think>\nvisible", [call("x", "t", {})]), ["hidden by template\nvisible"]),
        (asst([{"type": "text", "text": "<think>x</think>y"}], [call("x", "t", {})]), ["x\ny"]),
    ],
)
def test_rule_2_one_reasoning_step_per_message(msg, expected):
    rec = chat([msg, tool("x", "ok")])
    assert texts(rec) == expected


def test_final_message_content_is_the_answer_not_reasoning():
    rec = chat([asst("<think>so it is X</think>\n The answer: <answer> X </answer>", reasoning="because")])
    assert texts(rec) == ["because\nso it is X"] and texts(rec, "answer") == ["X"]
    assert rec["final_answer"]["text"] == "X" and rec["status"] == "completed"


def test_truncated_think_is_reasoning_and_no_answer():
    rec = chat([asst("<think>I was cut off in the mid")], finish_reason="length")
    assert texts(rec) == ["I was cut off in the mid"] and texts(rec, "answer") == []
    assert rec["status"] == "incomplete" and rec["final_answer"] is None


def test_legacy_function_call_and_function_role():
    rec = chat([
        asst(None, function_call={"name": "search", "arguments": '{"query": "legacy"}'}),
        {"role": "function", "name": "search", "content": hits("1", "2")},
        asst(None, function_call={"name": "get_document", "arguments": '{"docid": "2"}'}),
        {"role": "function", "name": "get_document", "content": doc("2")},
        asst("Exact Answer: y"),
    ])
    (s,) = searches(rec)
    assert s["query"] == "legacy" and [r["docid"] for r in s["results"]] == ["1", "2"]
    (b,) = browses(rec)
    assert b["docid"] == "2" and b["found"] and b["attributed_search"] == 1
    assert rec["status"] == "completed"


def test_unanswered_calls_get_no_output():
    rec = chat([
        asst(None, [call("a", "search", {"query": "q"}), call("b", "get_document", {"docid": "9"}),
                    call("c", "calc", {})]),
        tool("zzz", "an answer to some other call"),
    ])
    s, b, other = rec["steps"]
    assert s["results"] is None and s["error"] and b["found"] is False and other["output"] is None
    assert rec["status"] == "incomplete" and rec["warnings"] == ["browse_failed:9", "search_tool_error:#1"]


def test_id_less_tool_messages_match_in_order_and_reused_ids_stay_in_their_turn():
    rec = chat([
        asst(None, [call(None, "search", {"query": "one"}), call(None, "search", {"query": "two"})]),
        tool(None, hits("1")),
        tool(None, hits("2")),
        asst(None, [call("call_0", "search", {"query": "three"})]),
        tool("call_0", hits("3")),
        asst(None, [call("call_0", "search", {"query": "four"})]),
        tool("call_0", hits("4")),
        asst("a"),
    ])
    assert [(s["query"], s["results"][0]["docid"]) for s in searches(rec)] == [
        ("one", "1"), ("two", "2"), ("three", "3"), ("four", "4")
    ]


def test_url_browse_resolved_by_corpus_and_unknown_url():
    rec = chat([
        asst(None, [call("a", "search", {"query": "q"})]),
        tool("a", web_results("q", ("Ilse Marrow", "http://www.wiki.example.org/wiki/Ilse_Marrow/"))),
        asst(None, [call("b", "open_page", {"url": "https://wiki.example.org/wiki/Ilse_Marrow"}),
                    call("c", "open_page", {"url": "https://elsewhere.example.com/x"})]),
        tool("b", "page text"),
        tool("c", "page text"),
        asst("a"),
    ], corpus=web_corpus())
    assert searches(rec)[0]["results"][0]["docid"] == "1001"
    known, unknown = browses(rec)
    assert (known["docid"], known["found"], known["attributed_search"]) == ("1001", True, 1)
    assert (unknown["docid"], unknown["found"], unknown["url"]) == (None, False, "https://elsewhere.example.com/x")
    assert unknown["error"] == "URL not in the corpus"


@pytest.mark.parametrize(
    ("tail", "extra", "status"),
    [
        ([asst(None, [call("a", "search", {"query": "q"})])], {}, "incomplete"),  # ends on a call
        ([asst(None, [call("a", "search", {"query": "q"})]), tool("a", "[]")], {}, "incomplete"),  # ends on a tool
        ([asst("final")], {"finish_reason": "length"}, "incomplete"),
        ([asst("final", finish_reason="length")], {}, "incomplete"),
        ([asst("<think>only thinking</think>")], {}, "incomplete"),
        ([asst("final")], {"finish_reason": "stop"}, "completed"),
        ([], {}, "failed"),  # no assistant message at all
    ],
)
def test_chat_status(tail, extra, status):
    rec = chat(tail, **extra)
    assert rec["status"] == status
    # a length-cut last message still is the (possibly cut) final answer, as a BC+ output_text is
    truncated_text = "length" in (extra.get("finish_reason"), tail[-1].get("finish_reason") if tail else None)
    assert (rec["final_answer"] is not None) == (status == "completed" or truncated_text)


def test_empty_messages_fail_and_question_and_ids_come_from_the_record():
    rec = parse_chat({"qid": 12, "query": "the question", "messages": []}, RecordContext(path="p"))
    assert rec["status"] == "failed" and rec["steps"] == [] and rec["query_id"] == "12"
    assert rec["question"] == "the question" and rec["status_raw"] is None


def test_bare_list_of_messages():
    messages = [{"role": "system", "content": "s"}, {"role": "user", "content": [{"type": "text", "text": "Q?"}]},
                asst("A")]
    assert looks_like_chat(messages)
    rec = parse_chat(messages, RecordContext(path="x.json", item=2))
    assert rec["question"] == "Q?" and rec["query_id"] is None and rec["status"] == "completed"
    assert rec["trajectory_id"] == "openai-chat:x.json#2"


# --- Tongyi DeepResearch / WebSailor ReAct -------------------------------------------------------------------------


def test_tongyi_multi_query_search_and_multi_url_visit():
    corpus = web_corpus()
    rec = tongyi([
        {"role": "system", "content": "<tools>...</tools>"},
        {"role": "user", "content": "Which ferry?"},
        t_call("search", {"query": ["saxifrage", "ferry"]}, think="Find the island first."),
        t_resp(web_results("saxifrage", ("Blue saxifrage", "https://wiki.example.org/wiki/Blue_saxifrage"),
                           ("Ilse Marrow", "http://wiki.example.org/wiki/Ilse_Marrow/"),
                           ("Unknown", "https://nowhere.example.com/"))
               + SEP + web_results("ferry", ("MV Tarrow Gull", "https://wiki.example.org/wiki/MV_Tarrow_Gull"))),
        t_call("visit", {"url": ["https://wiki.example.org/wiki/Ilse_Marrow",
                                 "https://wiki.example.org/wiki/MV_Tarrow_Gull"], "goal": "g"}, think="Read both."),
        t_resp(page("https://wiki.example.org/wiki/Ilse_Marrow") + SEP
               + page("https://wiki.example.org/wiki/MV_Tarrow_Gull")),
        T_ANSWER,
    ], corpus=corpus)
    assert kinds(rec) == ["reasoning", "search", "search", "reasoning", "browse", "browse", "reasoning", "answer"]
    first, second = searches(rec)
    assert (first["query"], first["queries_requested"], first["ordinal"]) == ("saxifrage", ["saxifrage"], 1)
    assert [r["docid"] for r in first["results"]] == ["1003", "1001", None]
    assert (second["query"], [r["docid"] for r in second["results"]]) == ("ferry", ["1005"])
    b1, b2 = browses(rec)
    assert (b1["docid"], b1["found"], b1["attributed_search"], b1["reasoning_after"]) == ("1001", True, 1, None)
    assert (b2["docid"], b2["found"], b2["attributed_search"]) == ("1005", True, 2)
    assert b2["reasoning_after"] == "Kelda Island is served by MV Tarrow Gull."
    assert texts(rec)[:2] == ["Find the island first.", "Read both."]
    assert rec["status"] == "completed" and rec["status_raw"] == "answer"
    assert rec["final_answer"]["text"] == "MV Tarrow Gull" and rec["gold_answer"] == "MV Tarrow Gull"
    assert rec["source"]["writer"] == "tongyi-react" and rec["query_id"] is None and rec["question"] == "Which ferry?"
    assert rec["warnings"] == ["unresolved_result:#1"]


def test_tongyi_visit_failure_per_url_and_unknown_url():
    url_a, url_b = "https://wiki.example.org/wiki/Ilse_Marrow", "https://wiki.example.org/wiki/MV_Tarrow_Gull"
    rec = tongyi([
        {"role": "user", "content": "Which ferry?"},
        t_call("visit", {"url": [url_a, url_b, "https://nowhere.example.com/p"], "goal": "g"}),
        t_resp(page(url_a) + SEP + page(url_b, found=False) + SEP + page("https://nowhere.example.com/p")),
        T_ANSWER,
    ])
    a, b, c = browses(rec)
    assert (a["docid"], a["found"]) == ("1001", True)
    assert (b["docid"], b["found"]) == ("1005", False) and "could not be accessed" in b["error"]
    assert (c["docid"], c["found"], c["error"]) == (None, False, "URL not in the corpus")


def test_single_output_for_a_list_query_is_one_search_with_the_first_query():
    rec = tongyi([
        {"role": "user", "content": "Which ferry?"},
        t_call("search", {"query": ["first", "second"]}),
        t_resp("A search for 'first' found 1 results:\n\n## Web Results\nDocID:1003\n[Blue saxifrage]\nsnippet"),
        T_ANSWER,
    ])
    (s,) = searches(rec)
    assert (s["query"], s["queries_requested"]) == ("first", ["first", "second"])
    assert [r["docid"] for r in s["results"]] == ["1003"]


def test_parts_that_do_not_match_the_queries_go_to_the_first_query():
    out = web_results("a", ("Ilse Marrow", "https://wiki.example.org/wiki/Ilse_Marrow")) + SEP + "stray"
    rec = tongyi([{"role": "user", "content": "Q"}, t_call("search", {"query": ["a", "b", "c"]}), t_resp(out),
                  T_ANSWER])
    s1, s2, s3 = searches(rec)
    assert s1["query"] == "a" and [r["docid"] for r in s1["results"]] == ["1001"]
    assert [(s["query"], s["results"], s["error"]) for s in (s2, s3)] == [("b", None, UNPARSABLE),
                                                                         ("c", None, UNPARSABLE)]


def test_tongyi_invalid_tool_calls_python_and_no_results():
    rec = tongyi([
        {"role": "user", "content": "Q"},
        {"role": "assistant", "content": '<think>a</think>\n<tool_call>\n{"name": "search", "arguments": {"query": '
                                         '["x"]\n</tool_call>'},
        t_resp("No results found for 'x'. Try with a more general query."),
        {"role": "assistant", "content": "<think>b</think>\n<tool_call>\nnot json at all\n</tool_call>"},
        t_resp('Error: Tool call is not a valid JSON. Tool call must contain a valid "name" and "arguments" field.'),
        {"role": "assistant", "content": "<think>c</think>\n<tool_call>\npython\n<code>\nprint(2)\n</code>\n"
                                         "</tool_call>"},
        t_resp("2"),
        T_ANSWER,
    ])
    (s,) = searches(rec)
    assert s["query"] is None and s["results"] == []  # invalid JSON arguments, but the output still counts
    bad, python = [x for x in rec["steps"] if x["kind"] == "other_tool"]
    assert bad["name"] == "invalid_tool_call" and bad["arguments"] == "not json at all"
    assert python["name"] == "PythonInterpreter" and python["arguments"]["code"].strip() == "print(2)"
    assert python["output"] == "2" and texts(rec) == ["a", "b", "c", "Kelda Island is served by MV Tarrow Gull."]


@pytest.mark.parametrize(
    ("termination", "last", "status"),
    [
        ("answer", T_ANSWER, "completed"),
        ("exceed available llm calls", T_ANSWER, "incomplete"),
        ("answer", t_call("search", {"query": ["x"]}), "incomplete"),
        ("generate an answer as token limit reached", {"role": "assistant", "content": "<think>x"}, "incomplete"),
    ],
)
def test_tongyi_status_follows_the_termination(termination, last, status):
    rec = tongyi([{"role": "user", "content": "Q"}, last], termination=termination)
    assert (rec["status"], rec["status_raw"]) == (status, termination)


def test_tongyi_failure_record_and_a_cut_off_tool_call():
    failed = tongyi([], termination=None, prediction="[Failed]", error="boom", rollout_idx=1)
    assert failed["status"] == "failed" and failed["steps"] == [] and failed["source"]["writer"] == "tongyi-react"
    cut = tongyi([{"role": "user", "content": "Q"},
                  {"role": "assistant", "content": '<think>go</think>\n<tool_call>\n{"name": "sea'}],
                 termination="generate an answer as token limit reached")
    assert kinds(cut) == ["reasoning"] and cut["status"] == "incomplete"


# --- LangChain, detection, malformed records ------------------------------------------------------------------------


def test_langchain_messages_to_dict_is_converted():
    lc = [
        {"type": "human", "data": {"content": "Q?"}},
        {"type": "ai", "data": {
            "content": [{"type": "thinking", "thinking": "think it"}, {"type": "text", "text": "beside"}],
            "tool_calls": [{"name": "search", "args": {"query": "q"}, "id": "t1", "type": "tool_call"}],
            "additional_kwargs": {"reasoning_content": "rc"}}},
        {"type": "tool", "data": {"content": hits("1001"), "tool_call_id": "t1"}},
        {"type": "ai", "data": {"content": "A", "response_metadata": {"finish_reason": "stop"}}},
    ]
    assert looks_like_chat(lc) and looks_like_chat({"messages": lc})
    rec = derive(parse_chat({"messages": lc}, RecordContext(path="lc.json")))
    assert kinds(rec) == ["reasoning", "search", "answer"] and texts(rec) == ["rc\nthink it\nbeside"]
    assert searches(rec)[0]["query"] == "q" and rec["status"] == "completed" and rec["status_raw"] == "stop"
    assert rec["source"]["writer"] == "langchain"


def test_detection():
    assert looks_like_chat({"messages": []}) and looks_like_chat({"messages": "broken"})
    assert not looks_like_chat([]) and not looks_like_chat({"result": []}) and not looks_like_chat("<think>")
    assert not looks_like_chat([{"docid": "1"}])
    assert detect({"messages": [asst("x")]}) == "openai-chat"
    assert detect({"question": "q", "messages": [], "termination": "answer"}) == "openai-chat"


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"messages": "nope"}, "'messages' is a JSON str"),
        ({"messages": [asst("a"), 3]}, "messages[1] is a JSON int"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0] has role 'robot'"),
        ({"messages": [{"content": "x"}]}, "messages[0] has role None"),
        ({"messages": [asst(None, calls={"id": "x"})]}, "messages[0]: tool_calls is a JSON dict"),
        ({"messages": [{"role": "user", "content": "q"}, asst(None, [{"id": "c", "function": {"arguments": "{}"}}])]},
         "messages[1]: tool call without a function name"),
        ({"messages": [asst(None, ["search"])]}, "messages[0]: tool call without a function name"),
        ({"messages": [asst(None, [{"id": "c", "function": {"name": " "}}])]}, "without a function name"),
        ({"messages": [asst(None, function_call={"arguments": "{}"})]}, "without a function name"),
        ({"messages": [{"type": "robot", "data": {}}]}, "LangChain message type 'robot'"),
        ({"id": 1}, "needs a 'messages' list"),
        ("text", "found a JSON str"),
    ],
)
def test_malformed_records_are_rejected(record, message):
    with pytest.raises(RecordError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_chat(record, RecordContext(path="bad.jsonl"))


_scalar = st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.sampled_from(
    ["<think>", "</think>", "<tool_call>", "<answer>", SEP, '{"name": "search"}', "search", "visit"]
)
_value = st.recursive(_scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["role", "content", "tool_calls", "function", "name", "arguments", "id", "tool_call_id",
                     "reasoning", "reasoning_content", "function_call", "type", "data", "query", "url"]),
    inner, max_size=4), max_leaves=12)
_role = st.sampled_from(["user", "assistant", "tool", "function"])
_message = st.fixed_dictionaries({"role": _role}, optional={"content": _value, "tool_calls": _value,
                                                             "tool_call_id": _value, "reasoning": _value,
                                                             "function_call": _value})


@settings(max_examples=300, deadline=None)
@given(st.lists(_message | _value, max_size=5), _value)
def test_never_raises_anything_but_record_error(messages, extra):
    try:
        rec = parse_chat({"messages": messages, "termination": extra, "finish_reason": extra},
                         RecordContext(path="f", corpus=web_corpus()))
    except RecordError:
        return
    derive(rec)
    json.dumps(rec)
