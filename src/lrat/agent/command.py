"""The ``lrat agent`` command (registered in cli.py); the retriever and its libraries load only when it runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lrat.cli_errors import usage_errors
from lrat.cli_options import PARAMS, JsonOption, ParamsOption, QuietOption
from lrat.progress import progress_bar

if TYPE_CHECKING:
    from lrat.settings import Settings


def agent_command(
    questions: Annotated[Path, typer.Option(help="queries.tsv (answers from a ground_truth.jsonl beside it) or "
                                            "ground_truth.jsonl (query_id, query, answer).")],
    llm_url: Annotated[str, typer.Option(help="OpenAI-compatible chat-completions endpoint, e.g. "
                                         "http://localhost:8000/v1 (vLLM, SGLang) or a hosted API. Never written "
                                         "into run files or logs.")],
    llm_model: Annotated[str, typer.Option(help="Model name the endpoint serves.")],
    out: Annotated[Path, typer.Option(help="Folder for run_<qid>.json (BC+ run files) and summary.json.")],
    retriever: Annotated[str, typer.Option(help="base | org/name[@rev] (Hugging Face) | a model folder | "
                                           "models:/name@alias | the URL of a "
                                           "running `lrat serve` (http://host:port).")] = "base",
    k: Annotated[int | None, typer.Option(help="Results per search [params: agent_runner.k, 5].")] = None,
    max_turns: Annotated[int | None, typer.Option(help="LLM calls per question [params, 30].")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Questions in flight at once [params, 8].")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    grader: Annotated[str, typer.Option(help="exact (normalized exact match) | llm (the same endpoint grades, "
                                        "BC+-style prompt; the verdict goes into the run file).")] = "exact",
    system_prompt: Annotated[Path | None, typer.Option(help="A file with the system prompt to use instead of "
                                                       "the built-in one.")] = None,
    corpus: Annotated[Path | None, typer.Option(help="corpus.jsonl for a local retriever (base, folder, MLflow "
                                                "URI). [default: data.corpus in params.yaml]",
                                                show_default=False)] = None,
    params: ParamsOption = PARAMS,
    quiet: QuietOption = False,
    json_out: JsonOption = False,
) -> None:
    """Run a tool-calling LLM search agent on each question, with `search` and `get_document` backed by a
    retriever, and write one BrowseComp-Plus run file per question (what `lrat ingest` reads) plus summary.json.

    Re-running skips questions whose run file exists. Exit 0 when every question has a run file, 1 when some
    failed (LLM unreachable after retries; listed in summary.json), 2 on usage errors.
    """
    from lrat.agent.runner import read_questions, run_all
    from lrat.settings import load_settings

    with usage_errors():
        values = load_settings(params)
        asked = read_questions(questions)[: limit or None]
        prompt = system_prompt.read_text(encoding="utf-8") if system_prompt is not None else None
        client, tools, settings, metadata, in_flight = llm_runner(values, llm_url, llm_model, retriever, out, k,
                                                                  max_turns, prompt, corpus)
    with progress_bar(len(asked), "agent runs", "question", enabled=not quiet) as update:
        summary = run_all(asked, client, tools, settings, out, metadata, grader, concurrency or in_flight, update)
    if json_out:
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(f"{summary['run_files']} of {summary['questions']} questions have run files in {out} "
                   f"({summary['completed']} answered, {summary['failed']} failed); accuracy "
                   f"{summary['accuracy']} ({summary['grader']})", err=True)
    if summary["failed"]:
        raise typer.Exit(1)


def llm_runner(settings: Settings, llm_url: str, llm_model: str, retriever: str, out: Path,
               k: int | None = None, max_turns: int | None = None, system_prompt: str | None = None,
               corpus: Path | None = None) -> tuple[Any, Any, Any, dict[str, Any], int]:
    """(chat client, tools, run settings, run-file metadata, concurrency) from params.yaml `agent_runner:`; the
    flywheel runs its LLM rounds through the same pieces as `lrat agent`."""
    from lrat.agent.chat import ChatClient
    from lrat.agent.loop import DEFAULT_SYSTEM_PROMPT, RunSettings
    from lrat.agent.tools import ToolBox

    runner = settings.agent_runner
    client = ChatClient(llm_url, llm_model, api_key_env=runner.api_key_env, timeout=float(runner.timeout),
                        retries=runner.retries, backoff=float(runner.backoff), sampling=runner.sampling)
    run_settings = RunSettings(max_turns=max_turns or runner.max_turns,
                               system_prompt=system_prompt or DEFAULT_SYSTEM_PROMPT)
    tools = ToolBox(_open_retriever(retriever, corpus or settings.data.corpus, settings), k or runner.k,
                    runner.snippet_tokens, runner.document_tokens)
    metadata = {"model": llm_model, "retriever": retriever if not retriever.startswith("http") else "http service",
                "k": tools.k, "snippet_max_tokens": tools.snippet_tokens, "output_dir": str(out)}
    return client, tools, run_settings, metadata, runner.concurrency


def _open_retriever(spec: str, corpus: Path, settings: Settings) -> Any:
    from lrat.simulate.pipeline import open_retriever

    if not spec.startswith(("http://", "https://")) and not corpus.is_file():
        raise FileNotFoundError(f"{corpus} not found: a local retriever needs --corpus")
    return open_retriever(spec, corpus, settings.retrieval.cache_dir, encoding=settings.retrieval.encoding,
                          progress=False)
