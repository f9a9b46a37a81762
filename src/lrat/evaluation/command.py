"""The ``lrat evaluate`` command, left undecorated so cli.py registers it with
``app.command("evaluate")(evaluate_command)``; torch, FAISS and scipy load only when it runs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from lrat.benchmark import SPLITS, Benchmark
from lrat.cli_errors import usage_errors
from lrat.cli_options import PARAMS, JsonOption, ParamsOption, QuietOption
from lrat.retrieval.options import Devices, Workers


def _summary(offline: dict[str, Any], agents: dict[str, Any] | None, out: Path, agent_out: Path | None) -> str:
    lines = [f"{offline['n_queries']} {offline['split']} questions -> {out}"]
    sig = offline["significance"]
    for name, values in offline["models"].items():
        marks = sig.get(name, {})
        cells = [f"{m} {v:.4f}{'*' if marks.get(m, {}).get('significant') else ''}" for m, v in values.items()]
        lines.append(f"  {name}: " + ", ".join(cells))
    if len(offline["models"]) > 1:
        lines.append(f"  (* p <= {sig['alpha']} vs {sig['baseline']}, {sig['test']})")
    if agents is not None:
        lines.append(f"agent on {agents['n_questions']} questions (seed {agents['seed']}) -> {agent_out}")
        for name, values in agents["models"].items():
            lines.append(f"  {name}: success {values['success']}, evidence recall {values['evidence_recall']}, "
                         f"{values['avg_search_calls']} searches and {values['avg_browse_calls']} browses per "
                         "question")
        if ceiling := agents.get("ceiling"):
            closed = ", ".join(f"{name} {share:.0%}" if share is not None else f"{name} n/a"
                               for name, share in ceiling["gap_closed"].items())
            if closed:
                lines.append(f"  share of the {ceiling['over']} → {ceiling['model']} success gap closed: {closed}")
    return "\n".join(lines)


def agent_skipped(bench: Benchmark, no_agent: bool = False) -> str:
    """Empty when the simulated agent can answer the benchmark's questions, else why not (said, never faked)."""
    from lrat.simulate.store import not_simulated

    if no_agent:
        return "--no-agent"
    if bench.world is None:
        return "data.source is logs: there is no simulated world to replay the agent in (offline metrics only)"
    return not_simulated(bench.world) or ""


def _mlflow_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "benchmark"


def log_to_training_runs(models: dict[str, str], offline: dict[str, Any], agents: dict[str, Any] | None,
                         questions: dict[str, Any] | None = None, canonical: bool = False) -> None:
    """A model folder written by `lrat train` names its MLflow run: its scores join that run.

    Only the pipeline's own held-out evaluation (``canonical``) writes the run's ``eval.*`` / ``agent_eval.*``
    metrics, with tags saying which questions they come from (benchmark hash, split). Any other evaluation is
    recorded under ``other_eval.<benchmark>-<hash>.<split>.*``, so it can never replace the numbers the registry
    shows for the run."""
    runs = {}
    for name, spec in models.items():
        summary = Path(spec) / "lrat_train.json"
        if summary.is_file() and (run_id := json.loads(summary.read_text(encoding="utf-8")).get("run_id")):
            runs[name] = run_id
    if not runs:
        return
    import mlflow

    from lrat.tracking import use_store

    questions = questions or {}
    if canonical:
        prefix, agent_prefix = "eval.", "agent_eval."
        tags = {f"eval.{k}": str(v) for k, v in questions.items() if v is not None}
    else:
        bench = f"{questions.get('benchmark', 'benchmark')}-{str(questions.get('benchmark_sha256', ''))[:8]}"
        prefix = f"other_eval.{_mlflow_name(bench)}.{_mlflow_name(str(offline.get('split', 'split')))}."
        agent_prefix = prefix + "agent."
        tags = {}
    use_store()
    for name, run_id in runs.items():
        values = {f"{prefix}{k.replace('@', '_at_')}": float(v) for k, v in offline["models"][name].items()}
        if agents is not None:
            values.update({f"{agent_prefix}{k}": float(v) for k, v in agents["models"][name].items()})
        try:
            with mlflow.start_run(run_id=run_id):
                mlflow.log_metrics(values)
                if tags:
                    mlflow.set_tags(tags)
        except mlflow.exceptions.MlflowException as exc:  # a model trained against another tracking store
            typer.echo(f"Warning: could not add the scores of {name!r} to MLflow run {run_id}: {exc}", err=True)


def evaluate_command(
    model: Annotated[list[str] | None, typer.Option(
        "--model", help="NAME=SPEC, repeatable; SPEC is 'base' (the packaged MiniLM), a sentence-transformers "
        "folder or an MLflow model URI (models:/name@alias). Every other model is tested against the one named "
        "'base' (else the first). [default: base=base]", show_default=False)] = None,
    world: Annotated[Path | None, typer.Option(help="A benchmark folder in the world layout: corpus.jsonl, "
                                               "queries.tsv, qrel_evidence.txt, splits.json (+ simulation.json for "
                                               "the agent). Default: the files `data:` in params.yaml names, with "
                                               "--splits.", show_default=False)] = None,
    splits: Annotated[Path, typer.Option(help="splits.json with the held-out questions when --world is not given "
                                         "(written by `lrat split`).")] = SPLITS,
    split: Annotated[str, typer.Option(help="Questions to evaluate: a key of splits.json.")] = "test",
    out: Annotated[Path, typer.Option("--out", help="Offline IR metrics JSON.")] = Path("metrics/eval.json"),
    agent_out: Annotated[Path, typer.Option("--agent-out", help="Agent-level metrics JSON.")] = (
        Path("metrics/agent_eval.json")
    ),
    no_agent: Annotated[bool, typer.Option("--no-agent", help="Skip the agent-level evaluation (e.g. a real "
                                           "benchmark without the simulator's world state).")] = False,
    oracle: Annotated[bool, typer.Option("--oracle/--no-oracle", help="Add the agent-level ceiling row 'oracle' "
                                         "(the baseline's results with each question's evidence pages on top, "
                                         "same questions and seed) and the share of the gap each model closes.")
                      ] = True,
    agent_runs: Annotated[Path | None, typer.Option(help="Keep the agent's run files here (<dir>/<model>/run_*.json); "
                                                    "default: a temporary folder.")] = None,
    seed: Annotated[int | None, typer.Option(help="Agent seed, the same for every model (default: `seed` in "
                                             "params.yaml).")] = None,
    params: ParamsOption = PARAMS,
    canonical: Annotated[bool, typer.Option("--canonical", help="This is the pipeline's own held-out evaluation: "
                                            "write the training runs' canonical eval.* / agent_eval.* metrics "
                                            "(the ones the registry shows). Without it, scores of a trained model "
                                            "are recorded as other_eval.<benchmark>-<hash>.<split>.*.")] = False,
    workers: Workers = None,
    devices: Devices = None,
    quiet: QuietOption = False,
    json_out: JsonOption = False,
) -> None:
    """Evaluate retrievers on held-out questions: recall@10/100, nDCG@10 and MRR@10 of the gold evidence (exact
    search over the whole corpus, ranx's metrics, paired t-test vs base), and the simulated agent's success,
    evidence recall and search/browse calls with each retriever (same seed for all).

    Exit 0 on success, 2 on usage errors (unknown model folder, split or missing world files).
    """
    from lrat.evaluation.offline import check_world, parse_models, read_split
    from lrat.retrieval.parallel import workers_setting
    from lrat.settings import load_settings

    with usage_errors():
        settings = load_settings(params)
        n_workers, worker_devices = workers_setting(settings.retrieval, workers, devices)
    cache_dir, prefixes = settings.retrieval.cache_dir, settings.retrieval.prefixes
    agent_seed = seed if seed is not None else settings.seed
    with usage_errors():
        models = parse_models(model or ["base=base"])
        bench = Benchmark.from_folder(world) if world is not None else Benchmark.from_settings(settings.data, splits)
        check_world(world if world is not None else bench)
        read_split(bench, split)
        cfg, skipped = None, agent_skipped(bench, no_agent)
        if not skipped:
            cfg = settings.agent
        elif world is not None and not no_agent:
            raise FileNotFoundError(f"{skipped}: the agent-level evaluation needs a world from `lrat simulate "
                                    "world`; use --no-agent for a real benchmark")

    from lrat.evaluation.agent import evaluate_agents
    from lrat.evaluation.offline import benchmark_sha256, evaluate_offline
    from lrat.io import write_json

    with usage_errors():
        encoding = {"workers": n_workers, "devices": worker_devices}
        offline = evaluate_offline(models, bench, split, cache_dir, prefixes, progress=not quiet, **encoding)
        write_json(out, offline)
        agents = None
        if cfg is not None:
            agents = evaluate_agents(models, bench, split, agent_seed, cfg, cache_dir, agent_runs,
                                     progress=not quiet, prefixes=prefixes, oracle=oracle, **encoding)
            write_json(agent_out, agents)
        elif world is None and not no_agent:  # the pipeline's stage: its metrics file says why there are none
            write_json(agent_out, {"skipped": skipped, "split": split})
    questions = {"benchmark": bench.name, "benchmark_sha256": benchmark_sha256(bench), "split": split,
                 "n_queries": offline["n_queries"], "agent_seed": None if agents is None else agent_seed}
    log_to_training_runs(models, offline, agents, questions, canonical)
    if json_out:
        typer.echo(json.dumps({"eval": offline, "agent_eval": agents}, indent=2))
    else:
        typer.echo(_summary(offline, agents, out, None if agents is None else agent_out), err=True)
        if agents is None and skipped:
            typer.echo(f"agent-level evaluation skipped: {skipped}", err=True)
