"""``lrat mine``: normalized trajectories → judged, weighted training rows + ``metrics/mining.json``.

Trajectories stream in batches: each batch's post-browse reasoning goes to the judge in one call (so an HTTP
judge works concurrently and its cache is consulted once per text), then the walk turns verdicts into rows.
Rows keep docids only until the end, when the weights (one fit per group over the whole build, as the authors
do per build) are known and texts are joined from the corpus while writing, unless the rows are written compact
(docids and the corpus sha256 only; ``lrat.mining.compact``): asked for, or because the text rows would pass
``mine.compact_above_mb``.
"""

from __future__ import annotations

import gc
import statistics
import sys
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import orjson

from lrat.io import atomic_open, dumps_line, write_json
from lrat.judge import Judge, JudgeError, VerdictCache, make_judge, resolve
from lrat.mining.compact import corpus_sha256
from lrat.mining.formats import MB, write_rows
from lrat.mining.lengths import token_lengths
from lrat.mining.options import MineOptions
from lrat.mining.walk import Row, WalkCounts, WalkOptions, walk
from lrat.weighting import grouped_weights

BATCH = 512


def read_trajectories(path: Path, rejects: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Normalized records (``lrat ingest`` output); a line that is not one goes to the rejects, named by line."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
                if not isinstance(record, dict) or not isinstance(record.get("trajectory_id"), str):
                    raise ValueError("not a normalized trajectory (no trajectory_id)")
                steps = record.get("steps")
                if not isinstance(steps, list) or not all(isinstance(s, dict) and "kind" in s for s in steps):
                    raise ValueError("'steps' is not a list of steps with a 'kind'")
            except ValueError as exc:  # orjson.JSONDecodeError is a ValueError (bad JSON, bad UTF-8)
                rejects.append({"path": str(path), "line": number, "error": str(exc)})
                continue
            yield record


def group_of(traj: dict[str, Any], key: str | None) -> str:
    """The weighting group: a dotted path into the record (default source.retriever); missing → ``default``."""
    if not key or key == "none":
        return "all"
    value: Any = traj
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return "default" if value is None else str(value)


def _judge_batch(batch: list[dict[str, Any]], judge: Judge, policy: str,
                 ) -> dict[tuple[int, int], tuple[bool | None, str | None]]:
    """(trajectory index, browse step idx) → (relevant / not / drop, the judge's error if it failed)."""
    keys, texts = [], []
    for t, traj in enumerate(batch):
        for step in traj["steps"]:
            if step["kind"] == "browse" and step.get("docid") is not None:
                keys.append((t, step["idx"]))
                texts.append(step.get("reasoning_after") or "")
    verdicts = judge.judge(texts) if texts else []
    out = {}
    for key, verdict in zip(keys, verdicts, strict=True):
        try:
            out[key] = (resolve(verdict, policy), verdict.error)
        except JudgeError as exc:
            raise JudgeError(f"{batch[key[0]]['trajectory_id']} step {key[1]}: {exc}") from None
    return out


def mine(trajectories: Path, corpus: Path, out: Path, opts: MineOptions, metrics: Path | None = None,
         progress: bool = True, log: Callable[[str], None] = lambda message: None,
         held_out: Collection[str] | None = None) -> dict[str, Any]:
    """``held_out``: question ids whose trajectories must not become labels (the evaluation's questions); they are
    left out, counted and named in the summary."""
    # Mining allocates millions of small, acyclic objects while keeping every row alive; the cyclic collector
    # would rescan them all again and again (a third of the run time), so it is paused for the run.
    paused = gc.isenabled()
    gc.disable()
    try:
        return _mine(trajectories, corpus, out, opts, metrics, progress, log, frozenset(held_out or ()))
    finally:
        if paused:
            gc.enable()


def _mine(trajectories: Path, corpus: Path, out: Path, opts: MineOptions, metrics: Path | None,
          progress: bool, log: Callable[[str], None], held_out: frozenset[str]) -> dict[str, Any]:
    from lrat.retrieval.local import read_corpus

    docids, texts = read_corpus(corpus)
    corpus_text = dict(zip(docids, texts, strict=True))
    if opts.judge_cache:  # a DVC output: it exists (empty) even when an offline judge has nothing to cache
        VerdictCache(opts.judge_cache).close()
    judge = make_judge(opts.judge, url=opts.judge_url, model=opts.judge_model,
                       cache_path=Path(opts.judge_cache) if opts.judge_cache else None, **_judge_kwargs(opts))
    walk_opts = WalkOptions(opts.pairing, opts.negatives, opts.skip_repeats, opts.empty_reasoning_is_zero)
    counts, rejects, rows = WalkCounts(), [], []
    seen = Counter[str]()
    leaked = Counter[str]()  # held-out question → its trajectories left out
    bar = _bar(trajectories, progress)
    try:
        for batch in _batches(read_trajectories(trajectories, rejects), BATCH):
            seen["read"] += len(batch)
            if bar is not None:
                bar.update(len(batch))
            used = [t for t in batch if _not_held_out(t, held_out, leaked) and _keep(t, opts, seen)]
            verdicts = _judge_batch(used, judge, opts.on_error)  # only what can give rows costs a judge call
            for t, traj in enumerate(used):
                group = group_of(traj, opts.group_by)
                gold = traj.get("gold_evidence_ids")
                for row in walk(traj, lambda b, t=t, v=verdicts: v[t, b["idx"]][0], corpus_text, walk_opts, counts):
                    row.group, row.judge_error = group, verdicts[t, row.verdict_step][1]
                    row.evidence = None if gold is None else row.pos_id in gold
                    rows.append(row)
    finally:
        if bar is not None:
            bar.close()
        stats = judge.stats()
        judge.close()
    no_negative = [r for r in rows if r.satisfied and not r.neg_ids] if opts.require_negative else []
    if no_negative:
        dropped = {id(r) for r in no_negative}
        rows = [r for r in rows if id(r) not in dropped]
    for row, length in zip(rows, token_lengths(opts.tokenizer, [r.reasoning for r in rows]), strict=True):
        row.reasoning_len = length
    weights, fits = grouped_weights([r.reasoning_len for r in rows], [r.group for r in rows])
    for row, weight in zip(rows, weights, strict=True):
        row.weight = weight
    corpus_hash = corpus_sha256(corpus)
    written = write_rows(out, rows, corpus_text, opts, corpus_hash)
    if written["label_format"] != opts.format:
        log(f"labels: text rows would take {written['text_label_bytes'] / MB:.1f} MB > mine.compact_above_mb = "
            f"{opts.compact_above_mb:g} MB, so {out} holds compact rows ({written['label_bytes'] / MB:.1f} MB: "
            f"docids and the corpus sha256 {corpus_hash[:12]}…); training joins the texts from {corpus}. "
            f"mine.compact_above_mb: null keeps text rows.")
    reject_path = out.with_name(f"{out.stem}.rejects.jsonl")
    with atomic_open(reject_path) as fh:
        fh.writelines(dumps_line(r) for r in rejects)
    for r in rejects[:20]:
        log(f"{r['path']}:{r['line']}: {r['error']}")
    summary = summarize(rows, fits, stats, counts, seen, rejects, len(no_negative), opts)
    summary["trajectories"]["held_out"] = sum(leaked.values())
    summary["held_out"] = {"questions_checked": len(held_out), "leaking_questions": len(leaked),
                           "trajectories_left_out": sum(leaked.values()), "questions": sorted(leaked)}
    if leaked:
        names = ", ".join(sorted(leaked)[:20]) + (", ..." if len(leaked) > 20 else "")
        log(f"held-out questions in the logs: {sum(leaked.values())} trajectories of {len(leaked)} held-out "
            f"question(s) left out of the labels ({names}); they stay evaluation questions")
    summary.update(written, compact_above_mb=opts.compact_above_mb, corpus_sha256=corpus_hash)
    if metrics is not None:
        write_json(metrics, summary)
    _log_to_mlflow(summary)
    return summary


def _not_held_out(traj: dict[str, Any], held_out: frozenset[str], leaked: Counter) -> bool:
    qid = traj.get("query_id")
    if qid is not None and str(qid) in held_out:
        leaked[str(qid)] += 1
        return False
    return True


def _keep(traj: dict[str, Any], opts: MineOptions, seen: Counter) -> bool:
    """The lrat preset mines completed runs with at least one search (§9.9); the official builder mines all."""
    if opts.statuses is not None:
        if traj.get("status") not in opts.statuses:
            seen["skipped_status"] += 1
            return False
        if not any(s["kind"] == "search" for s in traj["steps"]):
            seen["skipped_no_search"] += 1
            return False
    seen["used"] += 1
    return True


def _judge_kwargs(opts: MineOptions) -> dict[str, Any]:
    settings = dict(opts.judge_settings)
    prompts = settings.pop("prompts", None) or {}
    version = settings.get("prompt_version", "official-v1")
    if version in prompts:
        settings["prompt"] = prompts[version]
    return settings


def _batches(items: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _bar(path: Path, progress: bool) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    with path.open("rb") as fh:
        total = sum(1 for line in fh if line.strip())
    return tqdm(total=total, desc="mining", unit="traj")


def _share(flags: list[bool]) -> float | None:
    return round(sum(flags) / len(flags), 4) if flags else None


def summarize(rows: list[Row], fits: dict, judge: dict[str, int], counts: WalkCounts, seen: Counter,
              rejects: list, no_negative: int, opts: MineOptions) -> dict[str, Any]:
    lengths = sorted(r.reasoning_len for r in rows if r.reasoning_len is not None)
    evidence = [r.satisfied for r in rows if getattr(r, "evidence", None) is True]
    other = [r.satisfied for r in rows if getattr(r, "evidence", None) is False]
    return {
        "preset": opts.preset, "pairing": opts.pairing, "negatives": opts.negatives, "format": opts.format,
        "trajectories": {"read": seen["read"], "used": seen["used"], "rejected": len(rejects),
                         "skipped_status": seen["skipped_status"], "skipped_no_search": seen["skipped_no_search"]},
        "rows": len(rows),
        "unique_queries": len({r.query for r in rows}),
        "satisfied_ratio": _share([r.satisfied for r in rows]),
        "mean_negatives": round(statistics.mean(len(r.neg_ids) for r in rows), 3) if rows else None,
        "reasoning_len": {
            "mean": round(statistics.mean(lengths), 2) if lengths else None,
            "median": statistics.median(lengths) if lengths else None,
            "p90": lengths[min(len(lengths) - 1, int(0.9 * len(lengths)))] if lengths else None,
            "unknown": sum(r.reasoning_len is None for r in rows),
        },
        "groups": {str(g): {"half_life": round(f.half_life, 4), "h_raw": round(f.h_raw, 6), "rows_with_length": f.rows}
                   for g, f in fits.items()},
        "judge": {"backend": opts.judge, "on_error": opts.on_error, **judge},
        "browses": {"judged": counts.browses, "no_docid": counts.no_docid, "not_in_results": counts.not_in_results,
                    "not_in_corpus": counts.not_in_corpus, "repeats_skipped": counts.repeats,
                    "dropped_by_judge_policy": counts.dropped_by_judge, "kept_rows_without_negatives": no_negative},
        "evidence_retention": _share(evidence),
        "non_evidence_retention": _share(other),
        "evidence_rows": len(evidence),
    }


def _log_to_mlflow(summary: dict[str, Any]) -> None:
    """Only when the caller already has an MLflow run open (training does); mining alone never imports mlflow."""
    mlflow = sys.modules.get("mlflow")
    if mlflow is None or mlflow.active_run() is None:
        return
    flat = {"mining.rows": summary["rows"], "mining.satisfied_ratio": summary["satisfied_ratio"],
            "mining.evidence_retention": summary["evidence_retention"],
            "mining.non_evidence_retention": summary["non_evidence_retention"],
            "mining.judge_errors": summary["judge"].get("errors", 0), "mining.label_bytes": summary.get("label_bytes")}
    for group, fit in summary["groups"].items():
        flat[f"mining.{group}.half_life"] = fit["half_life"]
        flat[f"mining.{group}.h_raw"] = fit["h_raw"]
    mlflow.log_metrics({k: float(v) for k, v in flat.items() if v is not None})
