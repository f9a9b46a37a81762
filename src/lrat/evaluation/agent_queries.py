"""Agent-query evaluation: score a retriever on the search queries agents actually issued for held-out questions,
not on the question text, which no agent ever searches with.

Every logged search query of a held-out question is replayed against each retriever, and per question:

- ``trajectory_recall@k``: the share of the question's evidence pages in the top k of *any* of its logged queries
  (k = the agent's results per search, and 100): what the agent would have seen over the whole trajectory;
- ``search_ndcg@10`` / ``search_recall@10``: each logged search scored against the question's evidence qrels,
  averaged over the question's searches.

Means are over questions (each question weighs the same however many searches it made), with the paired t-test
against the baseline over questions. The queries were written while the agent read *another* retriever's results
(the logging policy): a retriever is scored on where that agent looked, not on where it would have looked with
the new results (docs/stages/evaluate.md, "Agent queries").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lrat.settings import Encoding

AGENT_QUERIES = "agent_queries"  # models.<name>.agent_queries, significance.<name>.agent_queries in eval.json
SEARCH_METRICS = ("search_ndcg@10", "search_recall@10")
DEEP = 100  # trajectory_recall@100 beside trajectory_recall@<agent k>
TRAJECTORIES = Path("data/ingested/trajectories.jsonl")  # own logs: `lrat ingest`'s output
AGENT_RUNS = Path("data/eval/agent_runs")  # embedded default: `lrat evaluate --agent-runs`, one folder per model
LOGGING_POLICY = ("the queries were written by an agent reading another retriever's results (the logging policy): "
                  "each retriever is scored on where that agent searched, not where it would have searched with "
                  "its own results")


def metric_names(k: int) -> tuple[str, ...]:
    """The agent-query metrics for an agent that reads ``k`` results per search."""
    recalls = [f"trajectory_recall@{k}"] + ([f"trajectory_recall@{DEEP}"] if k != DEEP else [])
    return (*recalls, *SEARCH_METRICS)


def is_agent_query_metric(name: str) -> bool:
    return name in SEARCH_METRICS or (name.startswith("trajectory_recall@") and name.split("@", 1)[1].isdigit()
                                      and int(name.split("@", 1)[1]) > 0)


@dataclass
class LoggedQueries:
    """The held-out questions' logged search queries, in call order (a repeated query counts again: the agent
    searched twice), and what was read to find them."""

    source: str
    k: int  # results per search the logged agent read
    queries: dict[str, list[str]] = field(default_factory=dict)  # held-out qid → its logged queries
    trajectories: int = 0  # held-out trajectories read
    other_questions: int = 0  # trajectories of questions outside the split: left out (training questions)
    other_benchmark: int = 0  # a held-out id, but another question's text: logs of another benchmark, left out
    without_query: int = 0  # search steps without a query text (nothing to replay)
    rejected: list[str] = field(default_factory=list)  # unreadable records, "file:line: why"

    def none_for(self, qids: list[str]) -> str:
        """Empty when at least one of ``qids`` has a logged query, else why there is nothing to replay."""
        if any(self.queries.get(q) for q in qids):
            return ""
        return (f"none of the {len(qids)} held-out questions has a logged search in {self.source} "
                f"({self.trajectories} of their trajectories, {self.other_questions} of other questions, "
                f"{self.other_benchmark} with the same id but another question's text, {len(self.rejected)} "
                "unreadable records)")

    def summary(self, qids: list[str]) -> dict[str, Any]:
        missing = [q for q in qids if not self.queries.get(q)]
        return {"source": self.source, "k": self.k, "n_questions": len(qids) - len(missing),
                "n_trajectories": self.trajectories,
                "n_searches": sum(len(self.queries.get(q, ())) for q in qids),
                "n_questions_without_queries": len(missing), "questions_without_queries": missing,
                "trajectories_of_other_questions": self.other_questions,
                "trajectories_of_another_benchmark": self.other_benchmark,
                "searches_without_query": self.without_query, "rejected": len(self.rejected),
                "rejected_examples": self.rejected[:5], "logging_policy": LOGGING_POLICY}


def default_source(source: str) -> Path:
    """Where the pipeline keeps the held-out questions' logged queries: your own logs (``data.source: logs``)
    hold them in the ingested trajectories; on the embedded default they are the base agent's run files that
    `lrat evaluate` keeps."""
    return TRAJECTORIES if source == "logs" else AGENT_RUNS / "base"


def _normalized(source: Path) -> Iterable[tuple[str, dict[str, Any] | None, str | None]]:
    """(where, normalized trajectory or None, why not) for a trajectories.jsonl or a folder of agent run files in
    any format `lrat ingest` reads."""
    from lrat.ingest.reader import list_files, read_units

    if source.is_file() and source.suffix == ".jsonl" and _is_normalized(source):
        import orjson

        with source.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = orjson.loads(line)
                except ValueError as exc:
                    yield f"{source}:{number}", None, f"not JSON ({exc})"
                    continue
                yield f"{source}:{number}", record, None if isinstance(record, dict) else "not an object"
        return
    from lrat.ingest.runner import convert
    from lrat.ingest.schema import RecordError
    from lrat.ingest.tools import ToolNames

    files, problems = list_files([source])
    for problem in problems:
        yield str(source), None, problem
    tools = ToolNames()
    for path, rel in files:
        for unit in read_units(path, rel):
            where = f"{path}:{unit.line}" if unit.line else str(path)
            if unit.error is not None:
                yield where, None, unit.error
                continue
            if unit.record is None:  # a blank line
                continue
            try:
                yield where, convert(unit, "auto", tools, None)[1], None
            except RecordError as exc:
                yield where, None, str(exc)


def _is_normalized(path: Path) -> bool:
    """A trajectories.jsonl written by `lrat ingest` (its first record has ``trajectory_id`` and ``steps``)."""
    import orjson

    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                try:
                    first = orjson.loads(line)
                except ValueError:
                    return False
                return isinstance(first, dict) and "trajectory_id" in first and "steps" in first
    return False


def _same_text(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def read_logged_queries(source: Path, qids: Iterable[str], k: int | None = None,
                        questions: dict[str, str] | None = None) -> LoggedQueries:
    """The logged search queries of the questions ``qids`` (the held-out split) from ``source``: `lrat ingest`'s
    trajectories.jsonl or a folder of run files. Trajectories of any other question are counted and left out, so a
    training question's queries can never score a retriever; so are those whose question text differs from the
    benchmark's (``questions``: qid → text), which belong to another benchmark that reuses the ids. ``k`` None:
    the most common number of results a logged search returned."""
    source = Path(source)
    if not source.exists():
        raise FileNotFoundError(f"{source}: no logged queries here (`lrat ingest` writes {TRAJECTORIES}; "
                                f"`lrat evaluate --agent-runs DIR` keeps the agent's run files)")
    wanted = set(qids)
    logged = LoggedQueries(source=str(source), k=k or 0)
    sizes: Counter[int] = Counter()
    for where, record, why in _normalized(source):
        if record is None:
            logged.rejected.append(f"{where}: {why}")
            continue
        qid = record.get("query_id")
        if qid is None or str(qid) not in wanted:
            logged.other_questions += 1
            continue
        text, expected = record.get("question"), (questions or {}).get(str(qid))
        if isinstance(text, str) and text.strip() and expected is not None and not _same_text(text, expected):
            logged.other_benchmark += 1
            continue
        logged.trajectories += 1
        asked = logged.queries.setdefault(str(qid), [])
        for step in record.get("steps") or []:
            if step.get("kind") != "search":
                continue
            texts = [q for q in (step.get("queries_requested") or [step.get("query")]) if isinstance(q, str)
                     and q.strip()]
            if not texts:
                logged.without_query += 1
            asked.extend(texts)
            if step.get("results"):
                sizes[len(step["results"])] += 1
    if not logged.k:
        logged.k = sizes.most_common(1)[0][0] if sizes else 10
    return logged


def question_scores(logged: LoggedQueries, qrels: dict[str, dict[str, int]],
                    ranking: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """metric → per-question scores, over the questions of ``qrels`` that have logged queries (sorted ids).
    ``ranking``: query text → ranked docids (at least max(k, 100) deep)."""
    from lrat.evaluation.metrics import query_score

    qids = sorted(q for q in qrels if logged.queries.get(q))
    names = metric_names(logged.k)
    out: dict[str, list[float]] = {m: [] for m in names}
    for qid in qids:
        evidence = {d: level for d, level in qrels[qid].items() if level >= 1}
        texts = logged.queries[qid]
        for metric in names[: 2 if logged.k != DEEP else 1]:
            depth = int(metric.split("@")[1])
            seen = set().union(*(ranking[t][:depth] for t in texts))
            out[metric].append(len(seen & set(evidence)) / len(evidence) if evidence else 0.0)
        for metric in SEARCH_METRICS:
            kind, depth = metric.removeprefix("search_").split("@")
            out[metric].append(float(np.mean([query_score(kind, int(depth), evidence, ranking[t]) for t in texts])))
    return {m: np.array(v, dtype=np.float64) for m, v in out.items()}


def score_agent_queries(logged: LoggedQueries, qrels: dict[str, dict[str, int]],
                        rankings: dict[str, dict[str, list[str]]], baseline: str,
                        alpha: float = 0.05) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, Any]]]:
    """(model → metric → mean, model → metric → {p_value, significant} against ``baseline``)."""
    from lrat.evaluation.metrics import paired_p_value
    from lrat.evaluation.offline import _p_value

    scores = {name: question_scores(logged, qrels, ranking) for name, ranking in rankings.items()}
    means = {name: {m: round(float(v.mean()), 4) if len(v) else 0.0 for m, v in per.items()}
             for name, per in scores.items()}
    tests: dict[str, dict[str, Any]] = {}
    for name, per in scores.items():
        if name == baseline:
            continue
        tests[name] = {}
        for metric, values in per.items():
            p = _p_value(paired_p_value(scores[baseline][metric], values)) if len(values) > 1 else 1.0
            tests[name][metric] = {"p_value": p, "significant": bool(p <= alpha)}
    return means, tests


def replay(spec: str, corpus: Path, logged: LoggedQueries, cache_dir: Path | None, encoding: Encoding | None,
           progress: bool = False, workers: int = 1, devices: list[str] | None = None) -> dict[str, list[str]]:
    """Query text → the model's ranked docids (max(k, 100) deep) for every distinct logged query. Corpus
    vectors come from the encoding cache; only the query texts are encoded (and cached)."""
    from lrat.retrieval.local import LocalRetriever

    texts = sorted({t for asked in logged.queries.values() for t in asked})
    retriever = LocalRetriever.build(spec, corpus, cache_dir, encoding or Encoding(), progress=progress,
                                     workers=workers, devices=devices)
    hits = retriever.search_batch(texts, max(logged.k, DEEP)) if texts else []
    retriever.save_query_cache()
    return {t: [h.docid for h in row] for t, row in zip(texts, hits, strict=True)}


def evaluate_agent_queries(models: dict[str, str], corpus: Path, qids: list[str], qrels: dict[str, dict[str, int]],
                           logged: LoggedQueries, cache_dir: Path | None, encoding: Encoding | None, baseline: str,
                           progress: bool = False, workers: int = 1,
                           devices: list[str] | None = None) -> dict[str, Any]:
    """``{"summary", "models": {name: {metric: mean}}, "significance": {name: {metric: test}}}`` of every model on
    the logged queries of ``qids`` (the held-out questions, scored on ``qrels``)."""
    rankings = {name: replay(spec, corpus, logged, cache_dir, encoding, progress, workers, devices)
                for name, spec in models.items()}
    scored = {q: qrels[q] for q in qids if q in qrels}
    means, tests = score_agent_queries(logged, scored, rankings, baseline)
    summary = logged.summary([q for q in qids if q in scored])
    summary["n_questions_without_qrels"] = len([q for q in qids if q not in qrels])
    return {"summary": summary, "models": means, "significance": tests}


def score_logged(models: dict[str, str], bench: Any, split: str, source: Path, k: int | None,
                 cache_dir: Path | None, encoding: Encoding | None, baseline: str, progress: bool = False,
                 workers: int = 1, devices: list[str] | None = None) -> tuple[dict[str, Any] | None, str]:
    """`evaluate_agent_queries` on a benchmark's ``split`` (its questions, texts and evidence qrels) with the logged
    queries in ``source``; (None, why) when no question of the split has a logged query."""
    from lrat.evaluation.offline import read_qrels, read_queries, read_split

    qids = read_split(bench, split)
    logged = read_logged_queries(source, qids, k, read_queries(bench.queries))
    if why := logged.none_for(qids):
        return None, why
    return evaluate_agent_queries(models, bench.corpus, qids, read_qrels(bench.qrels_evidence), logged, cache_dir,
                                  encoding, baseline, progress, workers, devices), ""
