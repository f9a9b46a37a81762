"""Judge prompts, keyed by a version name that is part of the verdict-cache key (a new prompt never reuses old
verdicts). ``official-v1`` must stay byte-exact: conformance compares with rows the authors' builder produced."""

from __future__ import annotations

from typing import Any

# From src/data_builder.py (JUDGE_PROMPT, after .strip()) of Yuqi-Zhou/LRAT, Apache-2.0.
OFFICIAL_PROMPT = r"""
You are an LLM judge. You will classify whether the AnalysisText suggests the browsing text is relevant or not relevant, using a bias aligned with typical browsing behavior: models often keep searching even when content is relevant, but they only say “not relevant” when it’s clearly off-topic.

Input
AnalysisText: another model’s analysis of a browsing page.
Decision rule (important)
Output NOT_RELEVANT only if the analysis contains a clear negative judgment of relevance (explicit or unmistakable), such as: “not relevant / irrelevant / unrelated / off-topic / doesn’t help / cannot answer / no useful info,” or it clearly concludes the content is about a different topic and provides no value for the task.
Otherwise output RELEVANT.
    - This includes cases where the analysis:
    - extracts useful facts/steps/details from the page,
    - says the page is partially helpful,
    - suggests using it as background/context,
    - recommends continuing to search for more sources (continuing search does not imply irrelevance).
Output (strict)
Return exactly one token:

RELEVANT
NOT_RELEVANT

Classify this:
AnalysisText:
{{ANALYSIS_TEXT}}
""".strip()  # noqa: E501

PLACEHOLDER = "{{ANALYSIS_TEXT}}"

PROMPTS: dict[str, str] = {"official-v1": OFFICIAL_PROMPT}

# The authors' request settings (vLLM extensions top_k and chat_template_kwargs included): a hosted API may
# refuse those two, so the judge sends nothing beyond model and messages unless sampling is given.
OFFICIAL_SAMPLING: dict[str, Any] = {
    "temperature": 0.8,
    "top_p": 0.95,
    "top_k": 50,
    "n": 1,
    "stop": None,
    "chat_template_kwargs": {"enable_thinking": True},
}


def render(prompt: str, text: str) -> str:
    """The prompt with the reasoning text in place, exactly as the authors substitute it."""
    return prompt.replace(PLACEHOLDER, str(text))
