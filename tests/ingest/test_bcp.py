"""BC+ run files, one test per rule of trajectory-formats.md §2.4/§9 and pitfall of §11."""

from __future__ import annotations

import json
import re

import pytest

from lrat.ingest.bcp import parse_bcp
from lrat.ingest.context import RecordContext
from lrat.ingest.corpus import CorpusIndex
from lrat.ingest.schema import RecordError

from .helpers import answer, browses, docid_lines, get_doc, hits, item, kinds, run, search, searches, think


def test_lrat_fork_docid_lines_and_browse_repr_output():
    rec = run([
        think("plan"),
        search(["first query", "second query"], docid_lines("1001", "1002", "1003")),
        think("open it"),
        get_doc("1002", "Document 1002:\n{'docid': '1002', 'text': 'Kelda Island is a small island in the nor"),
        think("useful"),
        answer(),
    ])
    (s,) = searches(rec)
    assert s["query"] == "first query" and s["queries_requested"] == ["first query", "second query"]
    assert [r["docid"] for r in s["results"]] == ["1001", "1002", "1003"]
    assert [r["rank"] for r in s["results"]] == [1, 2, 3]
    (b,) = browses(rec)
    assert b["found"] is True and b["attributed_search"] == 1 and b["reasoning_after"] == "useful"
    assert rec["status"] == "completed" and rec["warnings"] == []


def test_openai_json_results_keep_rank_and_score():
    rec = run([search("q", hits("5", "3", "9")), answer()])
    results = searches(rec)[0]["results"]
    assert [(r["docid"], r["rank"], r["score"]) for r in results] == [("5", 1, 10.0), ("3", 2, 9.0), ("9", 3, 8.0)]
    assert all(r["title"] is None and r["url"] is None for r in results)


@pytest.mark.parametrize(
    "output",
    [
        hits("1", "2"),  # fastmcp 2.9: one JSON array
        '{"docid": "1", "score": 2.0, "snippet": "a"}{"docid": "2", "score": 1.0, "snippet": "b"}',  # anthropic, old
        '[{"docid": "1", "snippet": "cut', # truncated JSON: the "docid" regex still finds the ids
    ],
)
def test_mcp_output_shapes(output):
    rec = run([search("q", output if "cut" not in output else output + '"}, {"docid": "2", "snip'), answer()])
    assert [r["docid"] for r in searches(rec)[0]["results"]] == ["1", "2"]


def test_gemini_first_block_only_is_one_result():
    rec = run([search("q", '{"docid": "1", "score": 2.0, "snippet": "a"}'), answer()])
    assert [r["docid"] for r in searches(rec)[0]["results"]] == ["1"]


def test_arguments_as_dict_user_query_and_malformed_json():
    rec = run([
        item("tool_call", hits("1"), "local_knowledge_base_retrieval", {"user_query": "dict args"}),
        item("tool_call", None, "search", '{"query": "unterminated'),
        answer(),
    ])
    first, second = searches(rec)
    assert first["query"] == "dict args" and first["ordinal"] == 1
    assert second["query"] is None and second["queries_requested"] == [] and second["results"] is None
    assert rec["warnings"] == ["search_tool_error:#2"]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ([{"text": "a", "type": "summary_text"}, {"text": "b", "type": "summary_text"}], "a\nb"),
        (["x", "y"], "x\ny"),
        ("plain", "plain"),
        ([], ""),
        ("", ""),
    ],
)
def test_reasoning_payload_types(payload, expected):
    rec = run([think(payload), answer()])
    assert rec["steps"][0] == {"kind": "reasoning", "idx": 0, "text": expected}


def test_interleaved_output_text_and_final_answer_is_last_item():
    rec = run([
        answer("Let me look this up."),
        search("q", hits("1")),
        answer("Explanation: see [1] and 【22】, [3, 4]\nExact Answer: Kelda Island\nConfidence: 120%"),
    ])
    assert kinds(rec) == ["answer", "search", "answer"]
    final = rec["final_answer"]
    assert final["exact"] == "Kelda Island" and final["confidence"] == 100.0
    assert final["cited_docids"] == ["1", "22", "3", "4"]


def test_completed_without_final_answer_is_incomplete():
    rec = run([think("t"), search("q", hits("1"))], status="completed")
    assert rec["status"] == "incomplete" and rec["status_raw"] == "completed" and rec["final_answer"] is None


@pytest.mark.parametrize(("raw", "result", "status"), [
    ("max_tokens", [answer()], "incomplete"),
    ("exceed available llm calls", [answer()], "incomplete"),
    ("", [], "failed"),
    ("completed", [], "failed"),
])
def test_status_vocabularies(raw, result, status):
    rec = run(result, status=raw)
    assert rec["status"] == status and rec["status_raw"] == raw


@pytest.mark.parametrize("arg", ["DocID:1022", ["1022"], 1022, " 1022 ", "docid: 1022"])
def test_docid_shapes(arg):
    rec = run([search("q", hits("1022")), get_doc(arg, json.dumps({"docid": "1022", "text": "t"})), answer()])
    (b,) = browses(rec)
    assert b["docid"] == "1022" and b["attributed_search"] == 1


def test_browse_not_in_prior_results_is_unattributed():
    rec = run([search("q", hits("1")), get_doc("9"), think("x"), answer()])
    (b,) = browses(rec)
    assert b["found"] and b["attributed_search"] is None and b["latest_search_before"] == 1
    assert rec["warnings"] == ["browse_not_in_prior_results:9"]


def test_attribution_goes_to_latest_earlier_search_and_repeats():
    rec = run([
        search("a", hits("1", "2")),
        search("b", hits("3")),
        get_doc("1"),  # shown only by search 1
        think("r1"),
        search("c", hits("1", "4")),
        get_doc("1"),  # repeat, now attributed to search 3
        get_doc("3"),
        answer(),
    ])
    first, again, third = browses(rec)
    assert (first["attributed_search"], first["latest_search_before"], first["repeat"]) == (1, 2, False)
    assert (again["attributed_search"], again["latest_search_before"], again["repeat"]) == (3, 3, True)
    assert (third["attributed_search"], third["latest_search_before"]) == (2, 3)
    assert first["reasoning_after"] == "r1" and again["reasoning_after"] is None  # parallel: next is a browse
    assert rec["warnings"] == ["repeat_browse:1"]


def test_browse_before_any_search():
    rec = run([get_doc("1"), think(""), answer()])
    (b,) = browses(rec)
    assert b["latest_search_before"] is None and b["attributed_search"] is None and b["reasoning_after"] == ""


@pytest.mark.parametrize("output", [
    json.dumps({"error": "Document with docid '9' not found"}),
    "Error: document 9 not found",
    "[Document not found] docid=9",
    "[Error retrieving 9]: connection reset",
    "[get_document] Invalid request format: Input must be a JSON object containing 'docid' field",
    None,
    "",
])
def test_failed_browse_is_not_found_and_not_attributed(output):
    rec = run([search("q", hits("9")), get_doc("9", output), think("t"), answer()])
    (b,) = browses(rec)
    assert b["found"] is False and b["error"] and b["attributed_search"] is None and b["latest_search_before"] == 1
    assert rec["warnings"] == ["browse_failed:9"]


def test_unparsable_browse_arguments_give_null_docid():
    rec = run([search("q", hits("1")), item("tool_call", None, "get_document", "{not json"), answer()])
    (b,) = browses(rec)
    assert b["docid"] is None and b["attributed_search"] is None
    assert rec["warnings"] == ["browse_unresolved_docid"]


def test_truncated_run_last_browse_has_no_reasoning():
    rec = run([search("q", hits("1")), get_doc("1")], status="incomplete")
    assert browses(rec)[0]["reasoning_after"] is None and rec["status"] == "incomplete"


def test_search_warnings_empty_and_tongyi_no_results():
    rec = run([
        search("a", "No results found for 'a'. Try with a more general query."),
        search("b", "[]"),
        search("c", "something the tool printed that has no ids"),
        answer(),
    ])
    a, b, c = searches(rec)
    assert a["results"] == [] and b["results"] == [] and c["results"] is None
    assert rec["warnings"] == ["empty_search:#1", "empty_search:#2", "unresolved_result:#3"]


@pytest.mark.parametrize("output", [
    "Search error for query 'q': index not loaded",
    "[Search] Invalid request format: Input must be a JSON object containing 'query' field",
    "Error: searcher unavailable",
    '{"error": "timeout"}',
])
def test_search_tool_errors(output):
    rec = run([search("q", output), answer()])
    (s,) = searches(rec)
    assert s["results"] is None and s["error"].startswith("search tool error")
    assert rec["warnings"] == ["search_tool_error:#1"]


def test_hidden_returned_earlier_section_is_not_a_result_list():
    hidden = "\n\n## Returned earlier (relevant docs hidden ...)\nDocID:1 [One] ; DocID:2 [Two]"
    output = docid_lines("5", "6") + hidden
    rec = run([search("q", output), answer()])
    assert [r["docid"] for r in searches(rec)[0]["results"]] == ["5", "6"]


def test_results_deduplicated_within_a_step():
    rec = run([search("q", docid_lines("1", "2", "1", "3")), answer()])
    assert [(r["docid"], r["rank"]) for r in searches(rec)[0]["results"]] == [("1", 1), ("2", 2), ("3", 3)]


def test_mcp_prefixed_names_and_other_tools():
    rec = run([
        item("tool_call", hits("1"), "search-server-search", json.dumps({"query": "q"})),
        item("tool_call", "42", "python", json.dumps({"code": "6*7"})),
        answer(),
    ])
    assert kinds(rec) == ["search", "other_tool", "answer"]
    assert rec["steps"][1]["arguments"] == {"code": "6*7"} and rec["steps"][1]["output"] == "42"


def test_visit_with_url_resolved_through_corpus():
    corpus = CorpusIndex()
    corpus.add("77", "Page\nbody", url="https://example.org/wiki/Page")
    rec = run([
        search("q", hits("77")),
        item("tool_call", "page text", "visit", json.dumps({"url": ["http://www.example.org/wiki/Page/", "https://x.org/"]})),
        answer(),
    ], corpus=corpus)
    known, unknown = browses(rec)
    assert known["docid"] == "77" and known["found"] and known["attributed_search"] == 1
    assert unknown["docid"] is None and unknown["found"] is False and unknown["url"] == "https://x.org/"


def test_metadata_and_question_fields():
    rec = run(
        [answer()],
        metadata={"model": "m", "searcher_type": "bm25", "snippet_max_tokens": 64, "k": 10},
        query="the question",
        answer="gold",
        tool_call_counts_all={},
    )
    assert rec["source"] == {"format": "bcp", "path": "run.json", "line": None, "writer": "tongyi",
                             "model": "m", "retriever": "bm25", "snippet_max_tokens": 64, "k": 10}
    assert rec["question"] == "the question" and rec["gold_answer"] == "gold" and rec["query_id"] == "7"
    assert rec["trajectory_id"] == "bcp:run.json"


@pytest.mark.parametrize(("record", "message"), [
    ([], "JSON list"),
    ({"query_id": "1"}, "needs a 'result' list"),
    ({"result": {"a": 1}}, "expected a list"),
    ({"result": ["x"]}, "result[0] is a JSON str"),
    ({"result": [{"type": "thought"}]}, "result[0] has type 'thought'"),
    ({"result": [{"type": "tool_call", "tool_name": ""}]}, "without a tool_name"),
    ({"result": [{"type": "reasoning", "output": [1, 2]}]}, "neither text"),
])
def test_malformed_runs_are_rejected_whole(record, message):
    with pytest.raises(RecordError, match=re.escape(message)):
        parse_bcp(record, RecordContext(path="x.json"))
