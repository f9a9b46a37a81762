"""Search-R1 / ASearcher tag transcripts, one test per rule of trajectory-formats.md §3, §5, §9 and pitfalls 13, 17."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lrat.ingest.context import RecordContext
from lrat.ingest.corpus import CorpusIndex, load_corpus
from lrat.ingest.derive import derive
from lrat.ingest.schema import RecordError
from lrat.ingest.search_r1 import NO_RESULTS, looks_like_search_r1, parse_search_r1

from .helpers import browses, kinds, searches

SAMPLES = Path(__file__).resolve().parents[2] / "data" / "samples"

INSTRUCTION = (
    "Answer the given question. You must conduct reasoning inside <think> and </think> first every time you get "
    "new information. After reasoning, if you find you lack some knowledge, you can call a search engine by "
    "<search> query </search> and it will return the top searched results between <information> and "
    "</information>. You can search as many times as your want. If you find no further external knowledge needed, "
    "you can directly provide the answer inside <answer> and </answer>, without detailed illustrations. "
    "For example, <answer> Beijing </answer>. Question: {question}\n"
)
CORRECTIVE = (
    "\nMy previous action is invalid. If I want to search, I should put the query between <search> and </search>. "
    "If I want to give the final answer, I should put the answer between <answer> and </answer>. Let me try again.\n"
)


def corpus() -> CorpusIndex:
    index = CorpusIndex()
    index.add("1001", "Ilse Marrow\nIlse Marrow (1894-1967) was a field botanist.", url="https://wiki.example.org/Ilse")
    index.add("1002", "Kelda Island\nKelda Island is a small island.", url="https://wiki.example.org/Kelda")
    index.add("1003", "Blue saxifrage\nThe blue saxifrage is an alpine plant.")
    index.add("1012", "Mercury\nMercury is the smallest planet of the Solar System.")
    index.add("1013", "Mercury\nMercury is a chemical element with the symbol Hg.")
    index.add("1020", "Smile :\nA short poem.")
    index.add("1021", "Smile :)\nSmile :) is a 1990s pop song.")
    index.add("1030", "---\ntitle: Tarrow Gull\n---\nMV Tarrow Gull is a ferry built in 1988.")
    index.add("1031", "Tarrow Gull\nThe Tarrow gull is a seabird.")
    return index


def parse(record: Any, index: CorpusIndex | None = None, **ctx: Any) -> dict[str, Any]:
    ctx.setdefault("path", "query_1.txt")
    return derive(parse_search_r1(record, RecordContext(corpus=index, **ctx)))


def docids(step: dict[str, Any]) -> list[str | None]:
    return [r["docid"] for r in step["results"]]


SIMPLE = (
    "<think> I need the botanist. </think>\n<search> blue saxifrage botanist </search>\n\n"
    "<information>Doc 1(Title: Blue saxifrage) The blue saxifrage is an alpine plant.\n"
    "Doc 2(Title: Ilse Marrow) Ilse Marrow (1894-1967) was a field botanist.</information>\n\n"
    "<think> It was Ilse Marrow. </think>\n<answer> Ilse Marrow </answer>"
)


def test_steps_in_order_with_results_from_information():
    rec = parse(SIMPLE, corpus())
    assert kinds(rec) == ["reasoning", "search", "reasoning", "answer"]
    assert rec["steps"][0]["text"] == "I need the botanist."
    (s,) = searches(rec)
    assert s["query"] == "blue saxifrage botanist" and s["queries_requested"] == ["blue saxifrage botanist"]
    assert docids(s) == ["1003", "1001"] and [r["rank"] for r in s["results"]] == [1, 2]
    assert s["ordinal"] == 1 and s["error"] is None
    assert rec["status"] == "completed" and rec["status_raw"] is None
    assert rec["final_answer"]["text"] == "Ilse Marrow" and rec["final_answer"]["exact"] == "Ilse Marrow"
    assert rec["source"]["format"] == "search-r1" and rec["source"]["writer"] == "search-r1"
    assert rec["trajectory_id"] == "search-r1:query_1.txt" and rec["warnings"] == []


def test_without_corpus_titles_are_kept_and_results_unresolved():
    rec = parse(SIMPLE)
    (s,) = searches(rec)
    assert docids(s) == [None, None] and [r["title"] for r in s["results"]] == ["Blue saxifrage", "Ilse Marrow"]
    assert rec["warnings"] == ["unresolved_result:#1"]


def test_last_answer_is_the_final_answer():
    rec = parse("<answer> first </answer><think>no wait</think><answer>second</answer>")
    assert kinds(rec) == ["answer", "reasoning", "answer"] and rec["final_answer"]["text"] == "second"


def test_corrective_observation_is_cut_out():
    text = "<think> hmm </think>\nThe answer is X." + CORRECTIVE + "<think> ok </think><answer> X </answer>"
    rec = parse(text)
    assert kinds(rec) == ["reasoning", "reasoning", "answer"]
    assert [s["text"] for s in rec["steps"]] == ["hmm", "ok", "X"]


def test_corrective_observation_ends_an_unclosed_think():
    rec = parse("<think> partial thought" + CORRECTIVE + "<search> q </search>")
    assert kinds(rec) == ["reasoning", "search"] and rec["steps"][0]["text"] == "partial thought"


def test_truncated_corrective_observation_is_cut_to_the_end():
    rec = parse("<think> a </think>" + CORRECTIVE[: CORRECTIVE.index("Let me")])
    assert kinds(rec) == ["reasoning"] and rec["status"] == "incomplete"


def test_unclosed_think_at_the_end_runs_to_the_end():
    text = SIMPLE.rsplit("<think>", 1)[0] + "<think> It was Ilse\nMarrow, so next   \n"
    rec = parse(text, corpus())
    assert kinds(rec) == ["reasoning", "search", "reasoning"]
    assert rec["steps"][-1]["text"] == "It was Ilse\nMarrow, so next"
    assert rec["status"] == "incomplete" and rec["final_answer"] is None


def test_unclosed_tag_ends_at_the_next_opening_tag():
    rec = parse("<think> plan <search> q </search><information>No Results Found.</information><answer> MV Tarrow")
    assert kinds(rec) == ["reasoning", "search", "answer"]
    assert rec["steps"][0]["text"] == "plan" and rec["final_answer"]["text"] == "MV Tarrow"
    assert rec["status"] == "completed"


def test_empty_think_is_an_empty_reasoning_step_and_stray_closers_are_ignored():
    rec = parse("</think><think></think></search> text outside tags <answer>a</answer>")
    assert kinds(rec) == ["reasoning", "answer"] and rec["steps"][0]["text"] == ""


def test_search_without_information_has_no_results():
    rec = parse("<search> a </search><think>x</think><search> b </search><information></information>")
    first, second = searches(rec)
    assert first["results"] is None and first["error"] == NO_RESULTS
    assert second["results"] == [] and second["ordinal"] == 2
    assert rec["warnings"] == ["search_tool_error:#1", "empty_search:#2"]


def test_information_after_reasoning_still_belongs_to_the_search():
    rec = parse("<search> a </search><think>wait</think><information>Doc 1(Title: Ilse Marrow) x</information>",
                corpus())
    assert docids(searches(rec)[0]) == ["1001"]


def test_no_results_found_is_an_empty_result():
    rec = parse("<search> a </search><information>\nNo Results Found.\n</information>")
    assert searches(rec)[0]["results"] == [] and rec["warnings"] == ["empty_search:#1"]


def test_title_containing_parenthesis_resolved_by_longest_corpus_title():
    rec = parse("<search> s </search><information>Doc 1(Title: Smile :)) Smile :) is a 1990s pop song.\n"
                "Doc 2(Title: Smile :) A short poem.</information>", corpus())
    s = searches(rec)[0]
    assert docids(s) == ["1021", "1020"] and s["results"][0]["title"] == "Smile :)"


def test_duplicate_titles_told_apart_by_text():
    rec = parse("<search> mercury </search><information>Doc 1(Title: Mercury) Mercury is a chemical element with "
                "the symbol Hg.\nDoc 2(Title: Mercury) Mercury is the smallest planet of the Solar System."
                "</information>", corpus())
    assert docids(searches(rec)[0]) == ["1013", "1012"]


def test_front_matter_body_starting_with_dashes():
    rec = parse("<search> gull </search><information>Doc 1(Title: Tarrow Gull) ---\nMV Tarrow Gull is a ferry "
                "built in 1988.\nDoc 2(Title: Tarrow Gull) The Tarrow gull is a seabird.</information>", corpus())
    assert docids(searches(rec)[0]) == ["1030", "1031"]


ACCESS = (
    "<think> look it up </think><search> botanist </search>\n<information>\n"
    "[Doc 1](https://wiki.example.org/Ilse):\nIlse Marrow was a botanist.\n\n"
    "[Doc 2](https://elsewhere.example.com/page):\nSomething else.\n</information>\n"
    "<think> open the first </think><access> https://wiki.example.org/Ilse </access>\n"
    "<information>>>>> Page 1 >>>>\n\nIlse Marrow (1894-1967) was a field botanist.</information>\n"
    "<think> She was a botanist. </think>"
    "<access>https://elsewhere.example.com/page</access><information>Some page.</information>"
    "<access>https://wiki.example.org/Kelda</access>"
    "<information>No More Information is Found for this URL.</information>"
    "<answer> Ilse Marrow </answer>"
)


def test_access_browse_resolved_through_corpus_urls():
    rec = parse(ACCESS, corpus())
    assert kinds(rec) == ["reasoning", "search", "reasoning", "browse", "reasoning", "browse", "browse", "answer"]
    assert rec["source"]["writer"] == "asearcher"
    assert docids(searches(rec)[0]) == ["1001", None]
    found, unknown, failed = browses(rec)
    assert (found["docid"], found["url"], found["found"], found["error"]) == (
        "1001", "https://wiki.example.org/Ilse", True, None)
    assert found["attributed_search"] == 1 and found["latest_search_before"] == 1
    assert found["reasoning_after"] == "She was a botanist."
    assert (unknown["docid"], unknown["found"], unknown["url"]) == (None, False, "https://elsewhere.example.com/page")
    assert unknown["reasoning_after"] is None
    assert (failed["docid"], failed["found"]) == ("1002", False) and "No More Information" in failed["error"]
    assert rec["warnings"] == ["browse_unresolved_docid", "browse_failed:1002", "unresolved_result:#1"]


def test_access_without_corpus_or_page():
    rec = parse("<access> https://wiki.example.org/Ilse </access>")
    (b,) = browses(rec)
    assert b["docid"] is None and b["found"] is False and b["url"] == "https://wiki.example.org/Ilse"
    rec = parse("<access> https://wiki.example.org/Ilse </access><answer>x</answer>", corpus())
    (b,) = browses(rec)
    assert b["docid"] == "1001" and b["found"] is False and b["error"]


def test_access_with_a_docid_instead_of_a_url():
    rec = parse("<search> q </search><information>DocID: 1002</information><access> DocID:1002 </access>"
                "<information>Kelda Island is a small island.</information><think></think>")
    (b,) = browses(rec)
    assert (b["docid"], b["url"], b["found"], b["attributed_search"], b["reasoning_after"]) == (
        "1002", None, True, 1, "")


def test_instruction_in_a_combined_prompt_gives_no_steps():
    rec = parse(INSTRUCTION.format(question="Who recorded the blue saxifrage?") + SIMPLE, corpus())
    assert kinds(rec) == ["reasoning", "search", "reasoning", "answer"]
    assert rec["question"] == "Who recorded the blue saxifrage?"


def test_instruction_alone_is_a_failed_run():
    rec = parse(INSTRUCTION.format(question="q?"))
    assert rec["steps"] == [] and rec["status"] == "failed" and rec["final_answer"] is None


@pytest.mark.parametrize("system, user, assistant, end", [
    ("<|im_start|>system\n", "<|im_start|>user\n", "<|im_start|>assistant\n", "<|im_end|>\n"),
    ("<|start_header_id|>system<|end_header_id|>\n", "<|start_header_id|>user<|end_header_id|>\n",
     "<|start_header_id|>assistant<|end_header_id|>\n", "<|eot_id|>"),
])
def test_chat_template_scans_from_the_assistant_turn(system, user, assistant, end):
    instruction = INSTRUCTION.format(question="Who?").rstrip("\n")
    text = f"{system}Use <search> and </search>.{end}{user}{instruction}{end}{assistant}{SIMPLE}{end}"
    rec = parse(text, corpus())
    assert kinds(rec) == ["reasoning", "search", "reasoning", "answer"] and rec["question"] == "Who?"


def test_chat_template_without_instruction_and_with_later_turns():
    text = ("<|im_start|>system\nThink in <think> </think>, answer in <answer> </answer>.<|im_end|>\n"
            "<|im_start|>assistant\n<think> go <search> q </search><|im_end|>\n"
            "<|im_start|>user\n<information>Doc 1(Title: Ilse Marrow) Ilse Marrow was.</information><|im_end|>\n"
            "<|im_start|>assistant\n<think> done </think><answer> Ilse </answer><|im_end|>")
    rec = parse(text, corpus())
    assert kinds(rec) == ["reasoning", "search", "reasoning", "answer"]
    assert [rec["steps"][0]["text"], rec["steps"][2]["text"]] == ["go", "done"]
    assert docids(searches(rec)[0]) == ["1001"]


def test_dict_record_with_prompt_and_output():
    record = {"id": 7, "question": " Who recorded it? ", "golden_answers": ["Ilse Marrow", "I. Marrow"],
              "prompt": INSTRUCTION.format(question="Who recorded it?"), "output": SIMPLE, "model": "sr1-7b"}
    rec = parse(record, corpus(), path="runs.jsonl", line=3)
    assert kinds(rec) == ["reasoning", "search", "reasoning", "answer"]
    assert (rec["query_id"], rec["question"], rec["gold_answer"]) == ("7", "Who recorded it?", "Ilse Marrow")
    assert rec["trajectory_id"] == "search-r1:runs.jsonl#3"
    assert (rec["source"]["path"], rec["source"]["line"], rec["source"]["model"]) == ("runs.jsonl", 3, "sr1-7b")


def test_dict_record_field_fallbacks():
    record = {"qid": "q9", "query": "Where?", "answer": "Kelda", "response": "<answer>Kelda</answer>"}
    rec = parse(record, item=2, path="all.json")
    assert (rec["query_id"], rec["question"], rec["gold_answer"]) == ("q9", "Where?", "Kelda")
    assert rec["trajectory_id"] == "search-r1:all.json#2" and rec["status"] == "completed"


def test_question_from_the_prompt_when_the_record_has_none():
    rec = parse({"prompt": INSTRUCTION.format(question="From the prompt?"), "completion": "<answer>a</answer>"})
    assert rec["question"] == "From the prompt?" and rec["query_id"] is None and rec["gold_answer"] is None


@pytest.mark.parametrize("record", [None, 5, 1.5, True, ["<answer>x</answer>"]])
def test_non_transcript_records_are_rejected(record):
    with pytest.raises(RecordError, match="transcript string or a JSON object"):
        parse(record)


@pytest.mark.parametrize("record", [{}, {"output": 5, "question": "q"}, {"messages": []}])
def test_dict_without_a_transcript_names_the_keys(record):
    with pytest.raises(RecordError, match="no Search-R1 transcript") as info:
        parse(record)
    assert f"keys found: {', '.join(sorted(record)) or 'none'}" in str(info.value)


def test_odd_metadata_values_are_ignored():
    rec = parse({"id": {"x": 1}, "question": ["nested", 1], "golden_answers": [], "output": "<think>a</think>"})
    assert (rec["query_id"], rec["question"], rec["gold_answer"]) == (None, "nested", None)
    assert rec["status"] == "incomplete"


def test_text_without_tags_is_a_failed_run():
    rec = parse("I simply do not know.")
    assert rec["steps"] == [] and rec["status"] == "failed"


def test_looks_like_search_r1():
    assert looks_like_search_r1("<think> x </think>") and looks_like_search_r1("a <search> q </search>")
    assert looks_like_search_r1({"output": "<answer> a </answer>"})
    assert not looks_like_search_r1("plain text")
    assert not looks_like_search_r1({"prompt": INSTRUCTION, "output": "no tags"})
    assert not looks_like_search_r1({"result": []}) and not looks_like_search_r1(["<think>"])


def test_sample_transcript_against_sample_corpus():
    index = load_corpus(SAMPLES / "corpus.jsonl")
    rec = parse((SAMPLES / "runs/search_r1/query_103.txt").read_text(), index, path="query_103.txt")
    first, second = searches(rec)
    assert docids(first) == ["1003", "1001", "1012"] and docids(second) == ["1004", "1001"]
    assert rec["status"] == "completed" and rec["warnings"] == []


FRAGMENTS = st.sampled_from([
    "<think>", "</think>", "<search>", "</search>", "<information>", "</information>", "<answer>", "</answer>",
    "<access>", "</access>", "Doc 1(Title: Mercury) Mercury is", "https://wiki.example.org/Ilse", "DocID: 1",
    "<|im_start|>assistant\n", "<|im_end|>", CORRECTIVE, "My previous action is invalid.", "No Results Found.",
    "No More Information is Found for this URL.", "For example, <answer> Beijing </answer>. Question: q\n",
    " text ", "\n", "(", ")",
])


@settings(max_examples=200, deadline=None)
@given(st.lists(FRAGMENTS | st.text(max_size=8), max_size=30), st.booleans())
def test_any_tag_soup_parses_to_a_consistent_record(parts, with_corpus):
    rec = parse("".join(parts), corpus() if with_corpus else None)
    assert [s["idx"] for s in rec["steps"]] == list(range(len(rec["steps"])))
    assert rec["status"] in ("completed", "incomplete", "failed")
    assert (rec["status"] == "completed") == any(s["kind"] == "answer" for s in rec["steps"])
    assert (rec["status"] == "failed") == (rec["steps"] == [])
