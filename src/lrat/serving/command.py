"""The ``lrat index``, ``lrat bento`` and ``lrat serve`` commands; torch, faiss and bentoml load only inside."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from lrat.benchmark import SPLITS
from lrat.cli_errors import usage_errors
from lrat.cli_options import PARAMS, ParamsOption, QuietOption, quiet_libraries
from lrat.retrieval.options import Devices, Workers


def index_command(
    model: Annotated[str | None, typer.Option("--model", help="The model whose vectors fill the index: "
                                              "models:/NAME@ALIAS, models:/NAME/N, 'base', org/name[@rev] "
                                              "(Hugging Face) or a model folder. "
                                              "[default: models:/lrat-retriever@champion; train.base_model while "
                                              "there is none]", show_default=False)] = None,
    corpus: Annotated[Path | None, typer.Option("--corpus", help="JSONL corpus {docid, title?, text}. "
                                                "[default: params data.corpus]", show_default=False)] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for index.faiss, docids.json and manifest.json.")] = (
        Path("models/index")
    ),
    queries: Annotated[Path | None, typer.Option("--queries", help="queries.tsv for measuring an approximate "
                                                 "index against exact search (index.eval_split of `lrat split`'s "
                                                 "data/split/splits.json, else of a splits.json beside it). "
                                                 "[default: params data.queries]", show_default=False)] = None,
    params: ParamsOption = PARAMS,
    workers: Workers = None,
    devices: Devices = None,
    quiet: QuietOption = False,
) -> None:
    """Encode the corpus with one model (the champion; train.base_model while there is none) through the cached
    encoding path (a corpus the model encoded before is not encoded again) into a FAISS index: exact IndexFlatIP
    by default, HNSW or IVF per params.yaml `index:`.

    The manifest names the model (registry name and version, or the folder and a hash of its files, plus a hash
    of its weights), the corpus SHA-256, the dimension, the index type and, for HNSW/IVF, recall@10 against exact
    search on held-out queries. The service refuses to pair an index with any other model. Exit 2 on usage errors
    (an unknown model or alias, a missing corpus).
    """
    quiet_libraries(quiet)
    with usage_errors():
        from lrat.retrieval.parallel import workers_setting
        from lrat.serving.bundle import inputs_from_settings
        from lrat.serving.index import build_index
        from lrat.serving.models import resolve_model
        from lrat.settings import load_settings

        settings = load_settings(params)
        n_workers, worker_devices = workers_setting(settings.retrieval, workers, devices)
        inputs = inputs_from_settings(settings, corpus, queries)
        ref = resolve_model(model, inputs.registry, fallback=inputs.base_model)
        manifest = build_index(ref, inputs.corpus, out, inputs.index, inputs.cache_dir, inputs.queries,
                               inputs.encoding, progress=not quiet, workers=n_workers, devices=worker_devices,
                               splits=SPLITS)
    recall = manifest["recall_at_10_vs_exact"]
    who = f"{ref.name} version {ref.version}" if ref.version else f"{ref.spec} ({ref.source_key})"
    typer.echo(f"indexed {manifest['corpus']['n_docs']} documents with {who}: {manifest['index']['faiss']} "
               f"(dim {manifest['dim']}, recall@10 vs exact {recall}) in {out}", err=True)


def bento_command(
    index: Annotated[Path, typer.Option("--index", help="An index folder written by `lrat index`.")] = (
        Path("models/index")
    ),
    model: Annotated[str | None, typer.Option("--model", help="The model to package with the index: it must be "
                                              "the one that built it (checked against the weights hash in the "
                                              "manifest). [default: the model the manifest names]",
                                              show_default=False)] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Where to write the bento's record as JSON.")] = (
        Path("metrics/bento.json")
    ),
    params: ParamsOption = PARAMS,
    quiet: QuietOption = False,
) -> None:
    """Package the index with the model that built it as one BentoML model (encoder, FAISS index, docid map,
    documents) and build the bento from bentofile.yaml, with params.yaml `serve:` as its arguments.

    Both are reused when nothing they are made of changed. The store is .bentoml/ here unless $BENTOML_HOME says
    otherwise. Exit 2 when the index's model or corpus cannot be found or is not the one it was built with.
    """
    from lrat.io import write_json
    from lrat.serving.settings import bentoml_home

    bentoml_home()
    quiet_libraries(quiet)
    with usage_errors():
        from lrat.serving.bundle import inputs_from_settings, package
        from lrat.settings import load_settings

        record = package(index, inputs_from_settings(load_settings(params)), model)
    record["serve_command"] = "lrat serve"
    if out is not None:
        write_json(out, record)
    if not quiet:
        verb = "built" if record["bento_created"] else "reused"
        typer.echo(f"{verb} bento {record['bento']} serving {record['served_model']['name']} version "
                   f"{record['served_model']['version']}; run: lrat serve", err=True)


def serve_command(
    host: Annotated[str | None, typer.Option("--host", help="Interface to listen on. [default: params serve.host, "
                                             "127.0.0.1]", show_default=False)] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port. [default: params serve.port, 3000]",
                                             show_default=False)] = None,
    model: Annotated[str | None, typer.Option("--model", help="What to serve: models:/NAME@ALIAS, "
                                              "models:/NAME/N, 'base', org/name[@rev] (Hugging Face) or a model "
                                              "folder. [default: "
                                              "models:/lrat-retriever@champion; train.base_model while there is "
                                              "none]", show_default=False)] = None,
    index: Annotated[Path, typer.Option("--index", help="An index folder to reuse when it was built for this "
                                        "model, corpus and index settings (else one is built).")] = (
        Path("models/index")
    ),
    build_only: Annotated[bool, typer.Option("--build-only", help="Make sure the bento exists and print its tag; "
                                             "do not serve.")] = False,
    capture: Annotated[Path | None, typer.Option("--capture", help="Record the calls callers tag with a trajectory "
                                                 "id (header X-Trajectory-Id) into JSONL shards in this folder, for "
                                                 "`lrat ingest`. [default: params serve.capture.dir; off when null]",
                                                 show_default=False)] = None,
    params: ParamsOption = PARAMS,
) -> None:
    """Serve the champion (train.base_model while there is none; or --model) over HTTP with BentoML: POST
    /search, /search_batch, /get_document, plus /readyz, /livez and /metrics.

    The bento is reused when one was built for the same registry version (or model files), corpus, index
    settings, serve limits and service code; otherwise it is indexed, packaged and built first. Every search
    answer names the registry version it was ranked by. Stops on Ctrl-C / SIGTERM.

    With capture on (--capture DIR or serve.capture.dir), calls that carry a trajectory id are recorded with their
    results and the caller's reasoning (docs: guides/capture.md); POST /finish closes a trajectory. Turning capture
    on or off rebuilds nothing.
    """
    from lrat.serving.settings import bentoml_home

    home = bentoml_home()
    with usage_errors():
        from lrat.serving.bundle import ensure_bento, inputs_from_settings
        from lrat.settings import load_settings

        settings = load_settings(params)
        record = ensure_bento(model, inputs_from_settings(settings), index)
    host = host or settings.serve.host
    port = port or settings.serve.port
    served = record["served_model"]
    typer.echo(f"bento {record['bento']} serves {served['name']} version {served['version']}", err=True)
    if build_only:
        typer.echo(record["bento"])
        return
    from lrat.serving.capture import CAPTURE_ENV, CaptureConfig

    recording = CaptureConfig.from_settings(settings.serve.capture, capture)
    env = {k: v for k, v in os.environ.items() if k != CAPTURE_ENV}
    if recording is not None:
        Path(recording.dir).mkdir(parents=True, exist_ok=True)
        env.update(recording.to_env())
        typer.echo(f"capture on: tagged calls are recorded in {recording.dir} (POST /finish closes a trajectory)",
                   err=True)
    typer.echo(f"serving on http://{host}:{port} (POST /search, /search_batch, /get_document, /finish)", err=True)
    sys.stderr.flush()
    from lrat.serving.process import bentoml_exe

    exe = bentoml_exe()
    os.execve(exe, [exe, "serve", record["bento"], "--host", host, "--port", str(port)],
              {**env, "BENTOML_HOME": home})

