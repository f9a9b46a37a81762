"""`lrat experiment scaling` and `lrat experiment topk`, registered by cli.py as ``experiment_app``; the work is done
by `lrat.experiments.scaling.run_scaling` and `lrat.experiments.topk.run_topk`, and torch, MLflow and matplotlib
load only when a command runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from lrat.cli_errors import usage_errors
from lrat.cli_options import PARAMS, JsonOption, ParamsOption, QuietOption

experiment_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None,
    help="Experiments on the pipeline's outputs (not DVC stages; run after `make run`): how the gain grows with the "
    "number of trajectories (scaling), whether it holds as the agent reads more results per search (topk), and which "
    "offline metric predicts agent success (alignment).",
)

WORLD = Annotated[Path, typer.Option(help="Benchmark folder: corpus.jsonl, queries.tsv, qrel_evidence.txt, "
                                     "splits.json (+ simulation.json for the simulated agent; without it, e.g. "
                                     "for your own logs, agent metrics are n/a and offline metrics remain).")]
SPLIT = Annotated[str | None, typer.Option(help="Held-out questions, a key of splits.json (default: "
                                           "experiment.split, else test).")]
SEED = Annotated[int | None, typer.Option(help="Seed of the agent (the same for every model) and of the scaling "
                                          "subsets (default: `seed` in params.yaml).")]
NO_AGENT = Annotated[bool, typer.Option("--no-agent", help="Offline metrics only, even on a simulated world.")]


def _log(quiet: bool) -> Any:
    def log(message: str) -> None:
        if not quiet:
            typer.echo(message, err=True)

    return log


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:+.1f} %"


@experiment_app.command("scaling")
def scaling_command(
    fractions: Annotated[str | None, typer.Option(help="Shares of the trajectories to train on, comma-separated; "
                                                  "smaller shares are nested in larger ones (default: "
                                                  "experiment.scaling.fractions, else 0.1,0.25,0.5,1.0).")] = None,
    max_rows: Annotated[int | None, typer.Option(help="Training rows per subset; 0 = all rows of each subset "
                                                 "(default: experiment.scaling.max_rows; null there = all). "
                                                 "train.max_rows is NOT applied: a cap would flatten the curve.")
                        ] = None,
    trajectories: Annotated[Path, typer.Option(help="Normalized trajectories from `lrat ingest`.")] = (
        Path("data/ingested/trajectories.jsonl")
    ),
    world: WORLD = Path("data/world"),
    corpus: Annotated[Path | None, typer.Option(help="corpus.jsonl the trajectories' documents come from "
                                                "(default: <world>/corpus.jsonl).")] = None,
    split: SPLIT = None,
    seed: SEED = None,
    models_dir: Annotated[Path, typer.Option(help="Per-subset labels, mining statistics and models "
                                             "(<dir>/frac-<share>/).")] = Path("models/experiments/scaling"),
    out: Annotated[Path, typer.Option(help="Report JSON.")] = Path("metrics/scaling.json"),
    plot: Annotated[Path | None, typer.Option(help="PNG: recall@10 and agent success against trajectories.")] = (
        Path("reports/scaling.png")
    ),
    no_agent: NO_AGENT = False,
    params: ParamsOption = PARAMS,
    quiet: QuietOption = False,
    json_out: JsonOption = False,
) -> None:
    """Train on growing, nested subsets of the trajectories and score every model on the same held-out questions.

    Each subset is mined like the pipeline (`mine:`) and trained like it (`train:`, one MLflow run each in
    experiment.scaling.experiment, default lrat-scaling) but with its own row budget; the base model is the
    0-trajectory point. Scores: held-out recall@10/100, nDCG@10, MRR@10 (paired t-test vs base) and, on a
    simulated world, the agent's success, evidence recall and searches (same seed for all). Writes
    metrics/scaling.json and reports/scaling.png. Training dominates the time (every row of every subset: 187
    steps on the embedded default; 58 min measured on 2 CPU cores shared with other jobs, an estimated 25 min on
    idle ones); fewer --fractions or --max-rows shorten it. Exit 0 on success, 2 on usage errors or missing
    inputs.
    """
    from lrat.experiments.common import TRAJECTORIES_HINT, bench_from_settings, parse_list, require_file, require_world
    from lrat.experiments.scaling import ScalingConfig, check_fractions, run_scaling
    from lrat.settings import load_settings

    with usage_errors():
        values = load_settings(params)
        settings = values.experiment.scaling
        cfg = ScalingConfig(
            fractions=check_fractions(parse_list(fractions, settings.fractions, float, "--fractions")),
            max_rows=_row_budget(max_rows if max_rows is not None else settings.max_rows),
            experiment=settings.experiment)
        require_file(trajectories, TRAJECTORIES_HINT)
        require_world(world)
        corpus = corpus or world / "corpus.jsonl"
        require_file(corpus, "the corpus the trajectories' documents come from (give --corpus)")
        bench = bench_from_settings(values, world, split, seed, use_agent=not no_agent)
        report = run_scaling(trajectories, corpus, bench, values.train, values.mine, cfg,
                             models_dir, out, plot, progress=not quiet, log=_log(quiet))
    if json_out:
        typer.echo(json.dumps(report, indent=2))
        return
    lines = [f"scaling on {report['n_queries']} {report['split']} questions ({report['train']['row_budget']}) "
             f"-> {out}" + (f", {plot}" if plot else "")]
    for p in report["points"]:
        if p.get("offline") is None:
            lines.append(f"  {p['name']}: {p['trajectories']} trajectories, skipped ({p.get('skipped')})")
            continue
        agent = p["agent"] or {}
        lines.append(f"  {p['name']}: {p['trajectories']} trajectories, {p['train_rows']} rows, recall@10 "
                     f"{_fmt(p['offline']['recall@10'])}, agent success {_fmt(agent.get('success'))}")
    if report["agent"]["skipped"]:
        lines.append(f"  agent n/a: {report['agent']['skipped']}")
    typer.echo("\n".join(lines), err=True)


def _row_budget(value: Any) -> int | None:
    if value is None or value == 0:
        return None
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"experiment.scaling.max_rows / --max-rows: a row count >= 0 or null, not {value!r}")
    return value


@experiment_app.command("topk")
def topk_command(
    k: Annotated[str | None, typer.Option("--k", help="Results per search shown to the agent, comma-separated "
                                          "(default: experiment.topk.k, else 5,10,20,50).")] = None,
    model: Annotated[str | None, typer.Option("--model", help="The trained retriever: 'base', a Hugging Face "
                                              "id, a model folder or an MLflow URI (default: "
                                              "models:/<registry.name>@champion).")] = None,
    base: Annotated[str | None, typer.Option(help="The reference retriever (default: train.base_model).")] = None,
    world: WORLD = Path("data/world"),
    split: SPLIT = None,
    seed: SEED = None,
    out: Annotated[Path, typer.Option(help="Report JSON.")] = Path("metrics/topk.json"),
    plot: Annotated[Path | None, typer.Option(help="PNG: both models and the gain per k.")] = (
        Path("reports/topk.png")
    ),
    no_agent: NO_AGENT = False,
    params: ParamsOption = PARAMS,
    quiet: QuietOption = False,
    json_out: JsonOption = False,
) -> None:
    """Agent-level evaluation of base and champion at each number of results per search (k).

    For every k the simulated agent answers the held-out questions once with each retriever, same seed: success,
    evidence recall, searches and browses per question, and the champion's relative gain; one MLflow run per k
    in experiment.topk.experiment (default lrat-topk). Offline evidence recall@k of both models is reported too;
    on a benchmark without a simulated world (your own logs) it is the only comparison, labelled offline, with
    the agent n/a and the reason. Writes metrics/topk.json and reports/topk.png. About 2.5 min on 2 CPU cores
    for the embedded default. Exit 0 on success, 2 on usage errors or missing inputs (e.g. no @champion yet).
    """
    from lrat.experiments.common import bench_from_settings, parse_list, require_world
    from lrat.experiments.topk import TopkConfig, check_ks, run_topk
    from lrat.settings import load_settings

    with usage_errors():
        values = load_settings(params)
        settings = values.experiment.topk
        cfg = TopkConfig(ks=check_ks(parse_list(k, settings.k, int, "--k")), experiment=settings.experiment)
        require_world(world)
        bench = bench_from_settings(values, world, split, seed, use_agent=not no_agent)
        champion = model or f"models:/{values.registry.name}@champion"
        reference = base or values.train.base_model
        report = run_topk(reference, champion, bench, cfg, out, plot, progress=not quiet, log=_log(quiet))
    if json_out:
        typer.echo(json.dumps(report, indent=2))
        return
    version = report["models"]["champion"].get("version")
    lines = [f"top-k ({report['mode']}) on {report['n_questions']} {report['split']} questions, base vs "
             f"{champion}{f' (version {version})' if version else ''} -> {out}" + (f", {plot}" if plot else "")]
    for r in report["results"]:
        line = (f"  k={r['k']}: offline recall@{r['k']} {_fmt(r['offline']['base'])} -> "
                f"{_fmt(r['offline']['champion'])} ({_pct(r['offline']['gain'])})")
        if r["agent"]:
            a = r["agent"]
            line += (f"; agent success {_fmt(a['base']['success'])} -> {_fmt(a['champion']['success'])} "
                     f"({_pct(a['gain']['success'])}), searches {a['base']['avg_search_calls']} -> "
                     f"{a['champion']['avg_search_calls']}")
        lines.append(line)
    if report["agent_skipped"]:
        lines.append(f"  agent n/a: {report['agent_skipped']}")
    typer.echo("\n".join(lines), err=True)


@experiment_app.command("alignment")
def alignment_command(
    model: Annotated[list[str] | None, typer.Option(
        "--model", help="NAME=SPEC, repeatable: one more retriever to include (a model folder, a Hub id, "
        "models:/name@alias or models:/name/3).", show_default=False)] = None,
    variant: Annotated[list[str] | None, typer.Option(
        "--variant", help="KEY=VALUE[,KEY=VALUE] of params.yaml train:, repeatable: lrat trained again on the "
        "pipeline's labels with these overrides (reused when already trained on the same labels). [default: "
        "experiment.alignment.variants]", show_default=False)] = None,
    labels: Annotated[Path, typer.Option(help="Labels the variants train on.")] = Path("data/labels/labels.jsonl"),
    agent_queries: Annotated[Path | None, typer.Option(
        "--agent-queries", help="Logged queries to replay (trajectories.jsonl or a folder of run files). [default: "
        "the base agent's run files of this study]", show_default=False)] = None,
    world: WORLD = Path("data/world"),
    split: SPLIT = None,
    seed: SEED = None,
    models_dir: Annotated[Path, typer.Option(help="Where the variants are trained (<dir>/<variant>/).")] = (
        Path("models/experiments/alignment")
    ),
    out: Annotated[Path, typer.Option(help="Report JSON.")] = Path("metrics/alignment.json"),
    plot: Annotated[Path | None, typer.Option(help="PNG: one scatter per offline metric against agent success.")
                    ] = Path("reports/alignment.png"),
    params: ParamsOption = PARAMS,
    quiet: QuietOption = False,
    json_out: JsonOption = False,
) -> None:
    """Which offline metric predicts what the agent does? Score at least 8 retrievers of varied quality (base,
    the ablation's naive and filter, lrat, lrat trained with other train: settings, the flywheel's rounds, any
    --model) with question-level metrics, agent-query metrics (the base agent's logged searches replayed) and the
    simulated agent (success, searches; same seed), and rank-correlate each metric with agent success (Kendall's
    tau, Spearman's rho).

    Writes metrics/alignment.json (models, per-metric correlations, and what the gate's rule says: does an
    agent-query metric beat recall@10?) and reports/alignment.png; one MLflow run in lrat-alignment. Needs a
    simulated world (the agent's success is the yardstick). Exit 0 on success, 2 on usage errors or missing
    inputs.
    """
    from lrat.evaluation.offline import parse_models
    from lrat.experiments.alignment import parse_variant, run_alignment, train_variants, variant_config
    from lrat.experiments.common import bench_from_settings, require_file, require_world
    from lrat.settings import load_settings

    log = _log(quiet)
    with usage_errors():
        values = load_settings(params)
        settings = values.experiment.alignment
        require_world(world)
        bench = bench_from_settings(values, world, split, seed)
        if why := bench.agent_skipped():
            raise ValueError(f"the alignment study needs the simulated agent: {why}")
        models = {"base": values.train.base_model}
        for name, folder in (("naive", "models/ablation/naive"), ("filter", "models/ablation/filter"),
                             ("lrat", "models/lrat")):
            if Path(folder, "lrat_train.json").is_file():
                models[name] = folder
            else:
                log(f"{folder} not found (`make run` trains it): left out")
        for folder in sorted(values.flywheel.dir.glob("round-*/model")):
            if (folder / "lrat_train.json").is_file():
                models[f"flywheel-{folder.parent.name}"] = str(folder)
        extra = parse_models(model) if model else {}
        variants = [parse_variant(v) for v in (variant if variant is not None else settings.variants) if v.strip()]
        for overrides in variants:
            variant_config(values.train, overrides)  # a bad key or value fails before anything trains
        if variants:
            require_file(labels, "the pipeline's labels (`make run`), which the variants train on")
            models.update(train_variants(variants, labels, world / "corpus.jsonl", values.train, models_dir,
                                         not quiet, log))
        models.update(extra)
        report = run_alignment(models, bench, out, plot, agent_queries, settings.experiment, progress=not quiet,
                               log=log)
    if json_out:
        typer.echo(json.dumps(report, indent=2))
        return
    lines = [f"alignment of {len(report['models'])} retrievers on {report['n_questions']} {report['split']} "
             f"questions -> {out}" + (f", {plot}" if plot else ""),
             "  metric: Kendall tau (Spearman) against agent success"]
    for metric, row in sorted(report["alignment"].items(), key=lambda kv: -(kv[1]["kendall_tau"] or -2)):
        lines.append(f"  {metric} [{row['kind']}]: {_fmt(row['kendall_tau'])} ({_fmt(row['spearman'])})")
    decision = report["decision"]
    lines.append(f"  rule: best agent-query metric {decision['best_agent_query']} (tau "
                 f"{_fmt(decision['best_agent_query_tau'])}) vs {decision['current_primary']} (tau "
                 f"{_fmt(decision['current_tau'])}): {'higher' if decision['agent_query_higher'] else 'not higher'}")
    typer.echo("\n".join(lines), err=True)
