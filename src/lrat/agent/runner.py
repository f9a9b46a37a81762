"""Many questions through the tool loop with bounded concurrency; resumable (a question whose run file exists is
skipped) and accountable (every question ends as a run file or as a counted failure in ``summary.json``)."""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrat.agent.chat import ChatClient, ChatError
from lrat.agent.grade import grade_exact, grade_llm
from lrat.agent.loop import RunSettings, final_answer, run_question
from lrat.agent.tools import ToolBox
from lrat.io import read_jsonl, write_json


@dataclass(frozen=True)
class Question:
    qid: str
    text: str
    answer: str | None = None


def read_questions(path: Path) -> list[Question]:
    """``queries.tsv`` (answers from a ``ground_truth.jsonl`` beside it, when there is one) or ``ground_truth.jsonl``
    (``query_id``, ``query`` as BC+ writes it or ``question`` as the generated world does, ``answer``)."""
    if path.suffix == ".jsonl":
        out = []
        for line, row in read_jsonl(path):
            text = row.get("query", row.get("question")) if isinstance(row, dict) else None
            if not isinstance(text, str) or row.get("query_id") is None:
                raise ValueError(f"{path}:{line}: expected an object with 'query_id' and 'query' (or 'question')")
            answer = row.get("answer")
            out.append(Question(str(row["query_id"]), text, None if answer is None else str(answer)))
        return out
    from lrat.evaluation.offline import read_queries

    truth_file = path.parent / "ground_truth.jsonl"
    answers = {q.qid: q.answer for q in read_questions(truth_file)} if truth_file.is_file() else {}
    return [Question(qid, text, answers.get(qid)) for qid, text in read_queries(path).items()]


def run_file(out: Path, qid: str) -> Path:
    return out / f"run_{re.sub(r'[^A-Za-z0-9_.-]+', '_', qid)}.json"


def run_all(questions: list[Question], client: ChatClient, tools: ToolBox, settings: RunSettings, out: Path,
            metadata: dict[str, Any], grader: str = "exact", concurrency: int = 8,
            progress: Callable[[], None] | None = None) -> dict[str, Any]:
    if grader not in ("exact", "llm"):
        raise ValueError(f"--grader must be 'exact' or 'llm', not {grader!r}")
    out.mkdir(parents=True, exist_ok=True)
    todo = [q for q in questions if not run_file(out, q.qid).is_file()]
    failed: dict[str, str] = {}

    def one(q: Question) -> None:
        record = run_question(client, tools, q.qid, q.text, settings, metadata)
        answer = final_answer(record)
        if grader == "llm":
            response = record["result"][-1]["output"] if answer is not None else None
            record["grading"] = grade_llm(client, q.text, response, q.answer)
        else:
            record["grading"] = grade_exact(answer, q.answer)
        write_json(run_file(out, q.qid), record)

    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="lrat-agent") as pool:
        futures = {pool.submit(one, q): q for q in todo}
        try:
            for future in as_completed(futures):
                try:
                    future.result()
                except ChatError as exc:
                    failed[futures[future].qid] = str(exc)
                if progress is not None:
                    progress()
        except KeyboardInterrupt:
            pool.shutdown(wait=True, cancel_futures=True)  # finished runs are on disk; re-running resumes
            raise
    summary = summarize(questions, out, failed, skipped=len(questions) - len(todo), grader=grader)
    write_json(out / "summary.json", summary)
    return summary


def summarize(questions: list[Question], out: Path, failed: dict[str, str], skipped: int,
              grader: str) -> dict[str, Any]:
    records = [json.loads(run_file(out, q.qid).read_text(encoding="utf-8")) for q in questions
               if run_file(out, q.qid).is_file()]
    graded = [r["grading"]["correct"] for r in records if r.get("grading", {}).get("correct") is not None]
    searches = [r["tool_call_counts"].get("search", 0) for r in records]
    browses = [r["tool_call_counts"].get("get_document", 0) for r in records]
    tokens = [r["usage"]["total_tokens"] for r in records if isinstance(r.get("usage"), dict)]
    return {
        "questions": len(questions), "run_files": len(records), "skipped_existing": skipped,
        "completed": sum(r["status"] == "completed" for r in records),
        "incomplete": sum(r["status"] != "completed" for r in records),
        "failed": len(failed), "failures": [{"query_id": q, "error": e} for q, e in sorted(failed.items())],
        "grader": grader, "graded": len(graded),
        "accuracy": round(sum(graded) / len(graded), 4) if graded else None,
        "searches_per_question": round(statistics.mean(searches), 3) if searches else None,
        "browses_per_question": round(statistics.mean(browses), 3) if browses else None,
        "total_tokens": sum(tokens) if tokens else None,
    }
