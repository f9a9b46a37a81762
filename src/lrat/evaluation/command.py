"""The ``lrat evaluate`` command, left undecorated so cli.py registers it with
``app.command("evaluate")(evaluate_command)``; torch, FAISS and scipy load only when it runs."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from lrat.benchmark import SPLITS, Benchmark
from lrat.cli_errors import usage_error, usage_errors
from lrat.cli_options import PARAMS, JsonOption, ParamsOption, QuietOption
from lrat.evaluation.agent_queries import AGENT_QUERIES
from lrat.evaluation.offline import GOLD, without_gold
from lrat.retrieval.options import Devices, Workers


def _cells(values: dict[str, Any], marks: dict[str, Any]) -> str:
    return ", ".join(f"{m} {v:.4f}{'*' if marks.get(m, {}).get('significant') else ''}"
                     for m, v in values.items() if not isinstance(v, dict))


def _summary(offline: dict[str, Any], agents: dict[str, Any] | None, out: Path | None,
             agent_out: Path | None) -> str:
    asked = (f"{offline['split']} questions" if offline.get("split") is not None
             else f"questions of {offline.get('qrels', 'the qrels')}")
    gold = f" ({offline['n_queries_gold']} with gold qrels)" if "n_queries_gold" in offline else ""
    lines = [f"{offline['n_queries']} {asked}{gold}, depth {offline['depth']}"
             + (f" -> {out}" if out is not None else "")]
    sig = offline["significance"]
    for name, values in offline["models"].items():
        marks = sig.get(name, {})
        lines.append(f"  {name}: " + _cells(values, marks))
        if GOLD in values:
            lines.append(f"  {name} (gold qrels): " + _cells(values[GOLD], marks.get(GOLD, {})))
        if AGENT_QUERIES in values:
            lines.append(f"  {name} (agent queries): " + _cells(values[AGENT_QUERIES], marks.get(AGENT_QUERIES, {})))
    if len(offline["models"]) > 1:
        lines.append(f"  (* p <= {sig['alpha']} vs {sig['baseline']}, {sig['test']})")
    logged = offline.get(AGENT_QUERIES) or {}
    if "skipped" in logged:
        lines.append(f"  agent-query metrics skipped: {logged['skipped']}")
    elif logged:
        lines.append(f"  agent queries: {logged['n_searches']} logged searches of {logged['n_questions']} questions "
                     f"from {logged['source']} ({logged['n_questions_without_queries']} without logged queries)")
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
    shows for the run. Gold-qrels scores go beside as ``eval.gold.*`` (``other_eval.….gold.*``)."""
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
        scores = offline["models"][name]
        values = {f"{prefix}{k.replace('@', '_at_')}": float(v) for k, v in without_gold(scores).items()}
        for part in (GOLD, AGENT_QUERIES):
            values.update({f"{prefix}{part}.{k.replace('@', '_at_')}": float(v)
                           for k, v in scores.get(part, {}).items()})
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
        "--model", help="NAME=SPEC, repeatable; SPEC is 'base' (the packaged MiniLM), a Hugging Face id "
        "(org/name or org/name@revision), a sentence-transformers folder or an MLflow model URI "
        "(models:/name@alias). Every other model is tested against the one named "
        "'base' (else the first). [default: base=base]", show_default=False)] = None,
    run: Annotated[list[str] | None, typer.Option(
        "--run", help="NAME=FILE, repeatable: score existing TREC runs ('qid Q0 docid rank score tag', e.g. a "
        "BrowseComp-Plus leaderboard run) on --qrels instead of any model; not with --model.",
        show_default=False)] = None,
    qrels: Annotated[Path | None, typer.Option(help="With --run: the TREC qrels to score the runs on (e.g. "
                                               "BrowseComp-Plus qrel_evidence.txt); its questions are the ones "
                                               "scored.", show_default=False)] = None,
    qrels_golds: Annotated[Path | None, typer.Option(help="Gold qrels: adds the gold rows (models.NAME.gold). "
                                                     "Default: none with --run; else data.qrels_golds, or the "
                                                     "world's qrel_golds.txt with --world, when present.",
                                                     show_default=False)] = None,
    world: Annotated[Path | None, typer.Option(help="A benchmark folder in the world layout: corpus.jsonl, "
                                               "queries.tsv, qrel_evidence.txt, splits.json (+ qrel_golds.txt, "
                                               "simulation.json for the agent). Default: the files `data:` in "
                                               "params.yaml names, with --splits.", show_default=False)] = None,
    splits: Annotated[Path, typer.Option(help="splits.json with the held-out questions when --world is not given "
                                         "(written by `lrat split`).")] = SPLITS,
    split: Annotated[str | None, typer.Option(help="Questions to evaluate: a key of splits.json. [default: test; "
                                              "with --run: every question of --qrels]", show_default=False)] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Offline IR metrics JSON. [default: metrics/eval.json; "
                                             "with --run: none, the summary only]", show_default=False)] = None,
    runs_out: Annotated[Path | None, typer.Option("--runs-out", help="Write each model's ranking (top 1000) as the "
                                                  "TREC run DIR/NAME.trec.", show_default=False)] = None,
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
    agent_queries: Annotated[Path | None, typer.Option(
        "--agent-queries", help="Logged search queries to replay for the agent-query metrics "
        "(models.NAME.agent_queries): a trajectories.jsonl from `lrat ingest` or a folder of agent run files; only "
        "the --split questions' trajectories are read. [default: data.source logs: "
        "data/ingested/trajectories.jsonl; simulated: the base agent's run files of this evaluation]",
        show_default=False)] = None,
    no_agent_queries: Annotated[bool, typer.Option("--no-agent-queries", help="Skip the agent-query metrics.")
                                ] = False,
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
    """Evaluate retrievers on held-out questions: recall@5/10/100/1000, nDCG@10 and MRR@10 of the evidence (exact
    search over the whole corpus, top 1000, ranx's metrics, paired t-test vs base), the same on the gold qrels
    when the benchmark has them, and the simulated agent's success, evidence recall and search/browse calls with
    each retriever (same seed for all).

    With --run NAME=FILE --qrels FILE: score existing TREC runs the same way (no model loads).

    Exit 0 on success, 2 on usage errors (unknown model folder, split, missing world files, a malformed run).
    """
    if run:
        with usage_errors():
            if model:
                raise ValueError("--run and --model are mutually exclusive: score TREC runs or models, not both")
            for flag, given in (("--runs-out", runs_out is not None), ("--canonical", canonical)):
                if given:
                    raise ValueError(f"{flag} goes with --model, not --run")
            if qrels is None:
                raise ValueError("--run needs --qrels: the TREC qrels to score the runs on")
        _score_runs_command(run, qrels, qrels_golds, world, splits, split, out, json_out)
        return
    if qrels is not None:
        raise usage_error("--qrels goes with --run (models are scored on data.qrels_evidence, or the world's "
                          "qrel_evidence.txt with --world)")
    split = split or "test"
    out = out or Path("metrics/eval.json")

    from lrat.evaluation.offline import check_world, parse_models, read_split
    from lrat.retrieval.parallel import workers_setting
    from lrat.settings import load_settings

    with usage_errors():
        settings = load_settings(params)
        n_workers, worker_devices = workers_setting(settings.retrieval, workers, devices)
    cache_dir, encoding = settings.retrieval.cache_dir, settings.retrieval.encoding
    agent_seed = seed if seed is not None else settings.seed
    with usage_errors():
        models = parse_models(model or ["base=base"])
        bench = Benchmark.from_folder(world) if world is not None else Benchmark.from_settings(settings.data, splits)
        if qrels_golds is not None:
            if not qrels_golds.is_file():
                raise FileNotFoundError(f"--qrels-golds {qrels_golds}: no such file")
            bench = dataclasses.replace(bench, qrels_golds=qrels_golds)
        check_world(world if world is not None else bench)
        read_split(bench, split)
        cfg, skipped = None, agent_skipped(bench, no_agent)
        if not skipped:
            cfg = settings.agent
        elif world is not None and not no_agent:
            raise FileNotFoundError(f"{skipped}: the agent-level evaluation needs a world from `lrat simulate "
                                    "world`; use --no-agent for a real benchmark")

    import tempfile

    from lrat.evaluation.agent import evaluate_agents
    from lrat.evaluation.offline import benchmark_sha256, evaluate_offline
    from lrat.io import write_json

    with usage_errors(), tempfile.TemporaryDirectory(prefix="lrat-agent-eval-") as scratch:
        pool = {"workers": n_workers, "devices": worker_devices}
        offline = evaluate_offline(models, bench, split, cache_dir, encoding, progress=not quiet,
                                   runs_out=runs_out, **pool)
        agents = None
        run_root = agent_runs if agent_runs is not None else Path(scratch)
        if cfg is not None:
            agents = evaluate_agents(models, bench, split, agent_seed, cfg, cache_dir, run_root,
                                     progress=not quiet, encoding=encoding, oracle=oracle, **pool)
            write_json(agent_out, agents)
        elif world is None and not no_agent:  # the pipeline's stage: its metrics file says why there are none
            write_json(agent_out, {"skipped": skipped, "split": split})
        if agents is None and agent_runs is not None:  # a DVC output: exists, and says why it holds no runs
            write_json(agent_runs / "SKIPPED.json", {"skipped": skipped or "no agent-level evaluation"})
        if no_agent_queries:
            offline[AGENT_QUERIES] = {"skipped": "--no-agent-queries"}
        else:
            source, why = logged_source(agent_queries, settings.data.source, agents, run_root,
                                        offline["significance"]["baseline"])
            if source is not None:
                why = add_agent_queries(offline, models, bench, split, source, cfg.k if cfg is not None else None,
                                        cache_dir, encoding, progress=not quiet, **pool)
            if why:
                offline[AGENT_QUERIES] = {"skipped": why}
        write_json(out, offline)
    questions = {"benchmark": bench.name, "benchmark_sha256": benchmark_sha256(bench), "split": split,
                 "n_queries": offline["n_queries"], "n_queries_gold": offline.get("n_queries_gold"),
                 "agent_seed": None if agents is None else agent_seed}
    log_to_training_runs(models, offline, agents, questions, canonical)
    if json_out:
        typer.echo(json.dumps({"eval": offline, "agent_eval": agents}, indent=2))
    else:
        typer.echo(_summary(offline, agents, out, None if agents is None else agent_out), err=True)
        if bench.qrels_golds is not None and bench.golds is None:
            typer.echo(f"no gold-qrels rows: {bench.qrels_golds} not found", err=True)
        if runs_out is not None:
            typer.echo(f"TREC runs -> {runs_out}/{{{','.join(models)}}}.trec", err=True)
        if agents is None and skipped:
            typer.echo(f"agent-level evaluation skipped: {skipped}", err=True)


def logged_source(given: Path | None, data_source: str, agents: dict[str, Any] | None, run_root: Path,
                  baseline: str) -> tuple[Path | None, str]:
    """Where the held-out questions' logged queries are read from, or None and why there are none."""
    from lrat.evaluation.agent_queries import TRAJECTORIES

    if given is not None:
        if not given.exists():
            raise FileNotFoundError(f"--agent-queries {given}: no such file or folder")
        return given, ""
    if agents is not None:
        return run_root / baseline, ""
    if data_source == "logs" and TRAJECTORIES.is_file():
        return TRAJECTORIES, ""
    return None, ("no logged queries: give --agent-queries (a trajectories.jsonl or a folder of run files), or "
                  f"run the simulated agent (data.source simulated), or ingest your logs to {TRAJECTORIES}")


def add_agent_queries(offline: dict[str, Any], models: dict[str, str], bench: Benchmark, split: str, source: Path,
                      k: int | None, cache_dir: Path | None, encoding: Any, progress: bool = True, workers: int = 1,
                      devices: list[str] | None = None) -> str:
    """Score every model on the split's logged queries; into ``offline`` (eval.json) as
    ``models.NAME.agent_queries``, ``significance.NAME.agent_queries`` and the summary ``agent_queries``. Returns
    why not when no question of the split has a logged query (nothing is added then)."""
    from lrat.evaluation.agent_queries import score_logged

    result, why = score_logged(models, bench, split, source, k, cache_dir, encoding,
                               offline["significance"]["baseline"], progress, workers, devices)
    if result is None:
        return why
    for name, means in result["models"].items():
        offline["models"][name][AGENT_QUERIES] = means
    for name, tests in result["significance"].items():
        offline["significance"][name][AGENT_QUERIES] = tests
    offline[AGENT_QUERIES] = result["summary"]
    return ""


def _score_runs_command(run: list[str], qrels: Path, qrels_golds: Path | None, world: Path | None, splits: Path,
                        split: str | None, out: Path | None, json_out: bool) -> None:
    """`lrat evaluate --run`: TREC runs scored on ``qrels`` (`lrat.evaluation.offline.evaluate_runs`)."""
    from lrat.evaluation.offline import evaluate_runs, parse_runs
    from lrat.io import write_json

    def warn(message: str) -> None:
        typer.echo(f"Warning: {message}", err=True)

    with usage_errors():
        runs = parse_runs(run)
        if not qrels.is_file():
            raise FileNotFoundError(f"--qrels {qrels}: no such file")
        if qrels_golds is not None and not qrels_golds.is_file():
            raise FileNotFoundError(f"--qrels-golds {qrels_golds}: no such file")
        split_file = None
        if split is not None:
            split_file = Benchmark.from_folder(world).splits if world is not None else splits
            if not split_file.is_file():
                raise FileNotFoundError(f"--split {split}: {split_file} not found (give --splits FILE or --world "
                                        "DIR; without --split every question of --qrels is scored)")
        result = evaluate_runs(runs, qrels, split, split_file, qrels_golds, warn=warn)
        if out is not None:
            write_json(out, result)
    if json_out:
        typer.echo(json.dumps({"eval": result, "agent_eval": None}, indent=2))
    else:
        typer.echo(_summary(result, None, out, None), err=True)
