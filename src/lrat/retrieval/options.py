"""Command-line options of the commands that encode a corpus (`lrat index`, `lrat evaluate`); light to import."""

from __future__ import annotations

from typing import Annotated

import typer

Workers = Annotated[int | None, typer.Option(
    "--workers", help="Processes that encode a corpus not in the cache (CPU processes, each with its share of the "
    "threads); the vectors, cache entry and results are the same as with one. [default: params retrieval.workers, "
    "1]", show_default=False)]
Devices = Annotated[str | None, typer.Option(
    "--devices", help="One device per worker, comma-separated, e.g. cuda:0,cuda:1 (GPU workers; "
    "vectors then match one process on that kind of device). [default: CPU]", show_default=False)]
