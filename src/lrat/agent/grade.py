"""Grading a run's final answer: normalized exact match, or an LLM grader with a BC+-style prompt."""

from __future__ import annotations

import re
import string
from typing import Any

from lrat.agent.chat import ChatClient, ChatError
from lrat.agent.loop import split_reasoning

GRADER_PROMPT = """Judge whether the following [response] to [question] is correct or not based on the precise and \
unambiguous [correct_answer] below.

[question]: {question}

[response]: {response}

Your judgement must be in the format and criteria specified below:

extracted_final_answer: The final exact answer extracted from the [response]. Put the extracted answer as 'None' if \
there is no exact, final answer to extract from the response.

[correct_answer]: {correct_answer}

reasoning: Explain why the extracted_final_answer is correct or incorrect based on [correct_answer], focusing only \
on if there are meaningful differences between [correct_answer] and the extracted_final_answer.

correct: Answer 'yes' if extracted_final_answer matches the [correct_answer] given above, or is within a small \
margin of error for numerical problems. Answer 'no' otherwise.

confidence: The extracted confidence score between 0% and 100% from [response]. Put 100 if there is no confidence \
score available."""


def normalize(text: str) -> str:
    text = text.lower().translate(str.maketrans("", "", string.punctuation))
    return " ".join(w for w in text.split() if w not in {"a", "an", "the"})


def grade_exact(answer: str | None, truth: str | None) -> dict[str, Any]:
    correct = None if truth is None else answer is not None and normalize(answer) == normalize(truth)
    return {"grader": "exact", "extracted_answer": answer, "correct": correct}


def grade_llm(client: ChatClient, question: str, response: str | None, truth: str | None) -> dict[str, Any]:
    if truth is None:
        return {"grader": "llm", "correct": None, "verdict": None}
    if not response:
        return {"grader": "llm", "correct": False, "verdict": "no final answer"}
    prompt = GRADER_PROMPT.format(question=question, response=response, correct_answer=truth)
    try:
        reply = client.complete([{"role": "user", "content": prompt}])
    except ChatError as exc:
        return {"grader": "llm", "correct": None, "verdict": None, "error": str(exc)}
    _, verdict = split_reasoning(reply["choices"][0]["message"])
    found = re.search(r"correct:\s*\**\s*(yes|no)", verdict, re.I)
    return {"grader": "llm", "correct": None if found is None else found.group(1).lower() == "yes",
            "verdict": verdict}
