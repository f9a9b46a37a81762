"""``lrat ingest``: inputs → ``trajectories.jsonl`` + ``rejects.jsonl`` + ``summary.json``, streaming, atomically.

Memory stays flat: records are written as they are read, and only 8-byte hashes of trajectory ids are kept (to
refuse a duplicate, e.g. the same directory given twice). Capture shards of the service (format ``service``) are the
exception: a trajectory's events can be in any shard, so their events are held until every file is read, then
rebuilt (service.py) and written through the same path as every other record.

Inputs that do not belong together (another corpus, another benchmark's queries or qrels) are reported in
summary.json and, when nothing matches, stop the run with a UsageError before any output is replaced (see checks.py).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lrat.errors import UsageError as LratUsageError
from lrat.ingest.checks import BenchmarkCheck, CorpusCheck
from lrat.ingest.context import RecordContext
from lrat.ingest.corpus import CorpusIndex, load_corpus
from lrat.ingest.derive import derive
from lrat.ingest.detect import PARSERS, detect
from lrat.ingest.joins import Joins, load_joins
from lrat.ingest.reader import Unit, list_files, read_units
from lrat.ingest.schema import RecordError
from lrat.ingest.service import OPEN_SHARD_HINT, Captured, is_capture_shard, is_open_shard
from lrat.ingest.tools import ToolNames
from lrat.io import atomic_open, dumps_line, write_json

if TYPE_CHECKING:
    from lrat.settings import Settings

FORMAT_CHOICES = ("auto", *PARSERS)


class UsageError(LratUsageError, ValueError):
    """Bad arguments (missing input, unknown format): the CLI exits 2."""


def _id_hash(trajectory_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(trajectory_id.encode(), digest_size=8).digest(), "big")


def convert(unit: Unit, fmt: str, tools: ToolNames, corpus: CorpusIndex | None) -> tuple[str, dict[str, Any]]:
    """One record to ``(format, normalized record)``; raises RecordError for anything unreadable."""
    name = detect(unit.record) if fmt == "auto" else fmt
    ctx = RecordContext(path=unit.rel, line=unit.line, item=unit.item, tools=tools, corpus=corpus)
    try:
        record = PARSERS[name](unit.record, ctx)
    except RecordError:
        raise
    except RecursionError:
        raise RecordError("record nested too deeply to read") from None
    except Exception as exc:  # a parser bug must not lose the other records; say what happened instead
        raise RecordError(f"could not read this {name} record ({type(exc).__name__}: {exc})") from None
    return name, derive(record)


def ingest(
    inputs: list[Path],
    out: Path,
    fmt: str = "auto",
    corpus: Path | None = None,
    queries: Path | None = None,
    qrels_evidence: Path | None = None,
    qrels_golds: Path | None = None,
    ground_truth: Path | None = None,
    tools: ToolNames | None = None,
    progress: bool = True,
    log: Callable[[str], None] = lambda message: None,
    warn: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Normalize every trajectory under ``inputs`` into ``out``; returns the summary written to summary.json.

    ``warn`` gets the input-mismatch warnings (default: ``log``); the CLI shows them even with --quiet.
    """
    if fmt not in FORMAT_CHOICES:
        raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMAT_CHOICES)}")
    if not inputs:
        raise UsageError("give at least one INPUT file or directory")
    for path in [*inputs, corpus, queries, qrels_evidence, qrels_golds, ground_truth]:
        if path is not None and not Path(path).exists():
            raise UsageError(f"no such file or directory: {path}")
    tools = tools or ToolNames()
    out = Path(out)
    by_format: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    warnings: Counter[str] = Counter()
    detected: Counter[str] = Counter()
    seen: set[int] = set()
    counts = {"trajectories": 0, "rejected": 0}

    with ExitStack() as stack:
        traj_fh = stack.enter_context(atomic_open(out / "trajectories.jsonl"))
        rej_fh = stack.enter_context(atomic_open(out / "rejects.jsonl"))

        def reject(path: str, line: int | None, error: str) -> None:
            counts["rejected"] += 1
            rej_fh.write(dumps_line({"path": path, "line": line, "error": error}))
            where = f"{path}:{line}" if line is not None else path
            log(f"rejected {where}: {error}")

        corpus_index = load_corpus(Path(corpus), reject) if corpus is not None else None
        joins = load_joins(reject, queries, qrels_evidence, qrels_golds, ground_truth)
        corpus_check = CorpusCheck(corpus_index.docids, Path(corpus)) if corpus_index is not None else None
        benchmark_check = _benchmark_check(joins, queries, qrels_evidence, qrels_golds, ground_truth)
        files, skipped = list_files([Path(p) for p in inputs])
        open_shards = [path for path in skipped if is_open_shard(path)]
        for path in skipped:
            if is_open_shard(path):
                (warn or log)(f"skipped {path}: {OPEN_SHARD_HINT}")
            else:
                log(f"skipped {path}: not a run file (a summary.json, or not .json, .jsonl, .ndjson or .txt)")
        bar = _progress(sum(p.stat().st_size for p, _ in files), progress)

        def keep(unit: Unit, name: str, record: dict[str, Any]) -> bool:
            """What every record goes through once parsed, whatever its format; False if refused."""
            key = _id_hash(record["trajectory_id"])
            if key in seen:
                reject(unit.display, unit.line, f"duplicate trajectory_id {record['trajectory_id']!r}")
                return False
            seen.add(key)
            joins.apply(record)
            if corpus_check is not None:
                corpus_check.add(record, _where(unit))
            benchmark_check.add(record)
            traj_fh.write(dumps_line(record))
            counts["trajectories"] += 1
            by_format[name] += 1
            by_status[record["status"]] += 1
            warnings.update(w.split(":", 1)[0] for w in record["warnings"])
            return True

        captured = Captured()  # the events of every capture shard, grouped by trajectory (rebuilt at the end)
        for path, rel in files:
            shard = fmt == "service" or (fmt == "auto" and is_capture_shard(path))
            file_formats: Counter[str] = Counter()
            for unit in read_units(path, rel, lines=shard):
                bar.update(unit.size)
                if unit.error is not None:
                    reject(unit.display, unit.line, unit.error)
                    continue
                if unit.record is None:
                    continue
                if shard:
                    error = captured.add(unit)
                    if error is not None:
                        reject(unit.display, unit.line, error)
                    else:
                        file_formats["service"] = 1
                    continue
                try:
                    name, record = convert(unit, fmt, tools, corpus_index)
                except RecordError as exc:
                    reject(unit.display, unit.line, str(exc))
                    continue
                if keep(unit, name, record):
                    file_formats[name] += 1
            for name in file_formats:
                detected[name] += 1
        for trajectory in captured.trajectories():
            unit = trajectory.unit()
            try:
                name, record = convert(unit, "service", tools, corpus_index)
            except RecordError as exc:
                reject(unit.display, unit.line, str(exc))
                continue
            keep(unit, name, record)
        bar.close()
        summary = {
            "inputs": len(files),
            "trajectories": counts["trajectories"],
            "rejected": counts["rejected"],
            "by_format": dict(sorted(by_format.items())),
            "by_status": dict(sorted(by_status.items())),
            "warnings": dict(sorted(warnings.items())),
            "files_by_format": dict(sorted(detected.items())),
            "skipped_files": len(skipped) - len(open_shards),
        }
        if open_shards:
            summary["open_capture_shards"] = len(open_shards)
        if corpus_index is not None:
            summary["corpus_docs"] = len(corpus_index.docids)
        # raised inside the block, so the temp outputs are dropped and the previous ones stay untouched
        _check_inputs(summary, corpus_check, benchmark_check, warn or log)
    write_json(out / "summary.json", summary)
    detected_text = ", ".join(f"{n} file(s) {f}" for f, n in sorted(detected.items())) or "nothing readable"
    log(f"detected: {detected_text}")
    return summary


def _where(unit: Unit) -> str:
    """The record's place as a person opens it: ``file:line``, ``file#item`` or the file."""
    if unit.line is not None:
        return f"{unit.display}:{unit.line}"
    return f"{unit.display}#{unit.item}" if unit.item is not None else unit.display


def _benchmark_check(joins: Joins, queries: Path | None, qrels_evidence: Path | None, qrels_golds: Path | None,
                     ground_truth: Path | None) -> BenchmarkCheck:
    """The query_ids of each benchmark file given (queries.tsv's own, not those ground truth adds to the joins)."""
    check = BenchmarkCheck()
    check.add_file("queries", queries, joins.query_file_ids)
    check.add_file("qrels_evidence", qrels_evidence, joins.evidence)
    check.add_file("qrels_golds", qrels_golds, joins.golds)
    check.add_file("ground_truth", ground_truth, joins.answers)
    return check


def _check_inputs(summary: dict[str, Any], corpus_check: CorpusCheck | None, benchmark_check: BenchmarkCheck,
                  warn: Callable[[str], None]) -> None:
    """Add ``corpus_check`` and ``benchmark_check`` to the summary, warn about partial mismatches, and raise a
    UsageError for inputs that evidently belong to another corpus or benchmark."""
    errors: list[str] = []
    if corpus_check is not None:
        summary["corpus_check"] = corpus_check.summary()
        error = corpus_check.error()
        if error is not None:
            errors.append(error)
        elif (warning := corpus_check.warning()) is not None:
            warn(warning)
    summary["benchmark_check"] = benchmark_check.summary()
    for warning in benchmark_check.warnings():
        warn(warning)
    errors += benchmark_check.errors()
    if errors:
        raise UsageError("\n".join(errors))


def _progress(total: int, enabled: bool) -> Any:
    """A byte progress bar on stderr for inputs big enough to wait for; a no-op otherwise."""
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc="ingest", disable=not enabled or total < (8 << 20))


DATA_FILES = ("corpus", "queries", "qrels_evidence", "qrels_golds", "ground_truth")


def ingest_stage(inputs: list[Path], out: Path, settings: Settings, fmt: str | None = None,
                 files: dict[str, Path | None] | None = None, progress: bool = True,
                 log: Callable[[str], None] | None = None, warn: Callable[[str], None] | None = None
                 ) -> dict[str, Any]:
    """The `ingest` stage as `lrat ingest` and the flywheel run it: tool names from `ingest:`, the format from
    ``fmt`` (else `ingest.format`), the benchmark files from ``files`` (else `data:`)."""
    if files is None:
        files = {key: getattr(settings.data, key) for key in DATA_FILES}
    return ingest(inputs, out, fmt or settings.ingest.format, **{key: files.get(key) for key in DATA_FILES},
                  tools=ToolNames.from_settings(settings.ingest), progress=progress,
                  log=log or (lambda message: None), warn=warn)
