"""The ``lrat train`` command, registered by cli.py; training itself is `lrat.training.train.train`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lrat.cli_errors import usage_errors
from lrat.cli_options import PARAMS, JsonOption, ParamsOption, QuietOption


def train_command(
    labels: Annotated[Path, typer.Option("--labels", help="Validated labels from `lrat mine` (--format lrat).",
                                         exists=True, dir_okay=False, show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="Folder for the trained sentence-transformers model.")] = (
        Path("models/lrat")
    ),
    name: Annotated[str, typer.Option(help="MLflow run name (and checkpoint key).")] = "lrat",
    metrics: Annotated[Path | None, typer.Option(help="Where to write the run summary JSON.")] = (
        Path("metrics/train.json")
    ),
    mining_metrics: Annotated[Path | None, typer.Option(help="metrics/mining.json of these labels, logged with "
                                                        "the run.")] = Path("metrics/mining.json"),
    validation: Annotated[Path | None, typer.Option(help="`lrat validate` result for these labels; the run records "
                                                    "whether they passed (promotion requires it).")] = (
        Path("metrics/validation.json")
    ),
    corpus: Annotated[Path | None, typer.Option(help="corpus.jsonl that compact labels (docids only) are joined "
                                                "with; default: `data.corpus` in params.yaml.")] = None,
    params: ParamsOption = PARAMS,
    quiet: QuietOption = False,
    json_out: JsonOption = False,
) -> None:
    """Fine-tune the retriever on agent-mined labels with the weighted InfoNCE loss (LRAT step 4), as an MLflow run.

    Settings: `train:` in params.yaml (base model, epochs, lr, batch size, max length, negatives per row, loss,
    rows, weights, device). The store is $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db at the repository root.
    An interrupted run resumes from its last checkpoint. Data-parallel on several GPUs or CPU processes without
    changes: `torchrun --nproc_per_node N --no-python lrat train ...` (or `accelerate launch --multi_gpu
    --num_processes N --no_python lrat train ...`); train.batch_size stays the global batch and rank 0 logs the
    one MLflow run. Exit 0 on success, 2 on usage errors.
    """
    from lrat.settings import load_settings
    from lrat.training.train import train

    with usage_errors():
        settings = load_settings(params)
        if corpus is None and settings.data.given("corpus"):
            corpus = settings.data.corpus
        summary = train(labels, out, settings.train, name=name, mining_metrics=mining_metrics, metrics_out=metrics,
                        progress=not quiet, validation=validation, corpus=corpus)
    if "rank" in summary:  # a non-zero rank of a torchrun / accelerate launch: rank 0 reports
        return
    if json_out:
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(f"trained {summary['steps']} steps on {summary['rows']['rows']} rows in {summary['seconds']} s "
                   f"(loss {summary['train_loss']}) -> {out}; MLflow run {summary['run_id']}", err=True)


def ablation_command(
    trajectories: Annotated[Path, typer.Option(help="Normalized trajectories (for the naive ablation's labels).",
                                               exists=True, dir_okay=False)] = (
        Path("data/ingested/trajectories.jsonl")
    ),
    corpus: Annotated[Path | None, typer.Option(help="corpus.jsonl; default: `data.corpus` in params.yaml.",
                                                dir_okay=False, show_default=False)] = None,
    labels: Annotated[Path, typer.Option(help="The validated labels the lrat model was trained on.", exists=True,
                                         dir_okay=False)] = Path("data/labels/labels.jsonl"),
    lrat_model: Annotated[Path, typer.Option(help="The model `lrat train` wrote.", exists=True, file_okay=False)] = (
        Path("models/lrat")
    ),
    world: Annotated[Path | None, typer.Option(help="A benchmark folder in the world layout (corpus.jsonl, "
                                               "queries.tsv, qrel_evidence.txt, splits.json). Default: the files "
                                               "`data:` in params.yaml names, with --splits.", file_okay=False,
                                               show_default=False)] = None,
    splits: Annotated[Path, typer.Option(help="splits.json with the held-out `test` questions when --world is not "
                                         "given (written by `lrat split`).")] = Path("data/split/splits.json"),
    models_dir: Annotated[Path, typer.Option(help="Where the naive and filter models go.")] = Path("models/ablation"),
    out: Annotated[Path, typer.Option(help="Ablation metrics JSON.")] = Path("metrics/ablation.json"),
    plot: Annotated[Path | None, typer.Option(help="PNG of the four models side by side.")] = (
        Path("reports/ablation.png")
    ),
    params: ParamsOption = PARAMS,
    jobs: Annotated[int | None, typer.Option(
        min=1, show_default=False,
        help="Variants (naive, filter) trained and encoded at once, each in its own process with its share of the "
             "CPU threads; 1 = one after the other in this process. Default: `ablation.jobs` in params.yaml.")] = None,
    quiet: QuietOption = False,
    json_out: JsonOption = False,
) -> None:
    """The paper's ablation: base, naive (every browse a positive, no weights), filter (judged-relevant rows, no
    weights) and lrat (filter + reasoning weights), on the held-out test questions; one MLflow run each in the
    `<experiment>-ablation` experiment. Exit 0 on success, 2 on usage errors.
    """
    from lrat.benchmark import Benchmark
    from lrat.evaluation.offline import check_world
    from lrat.settings import load_settings
    from lrat.training.ablation import run_ablation

    with usage_errors():
        settings = load_settings(params)
        bench = Benchmark.from_folder(world) if world is not None else Benchmark.from_settings(settings.data, splits)
        corpus = corpus or bench.corpus
        check_world(bench)
        report = run_ablation(trajectories, corpus, labels, lrat_model, bench, models_dir, settings.train,
                              settings.mine, settings.retrieval, out, plot, progress=not quiet,
                              jobs=jobs or settings.ablation.jobs)
    if json_out:
        typer.echo(json.dumps(report, indent=2))
        return
    line = ", ".join(f"{name} {m['recall@10']:.3f}" for name, m in report["models"].items())
    typer.echo(f"recall@10 on {report['n_queries']} test questions: {line} -> {out}", err=True)
