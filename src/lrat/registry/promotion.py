"""`lrat promote`: a fresh, paired evaluation of the candidate and the current champion (or the base model when
there is none) on the same held-out questions, the gate's checks, the alias moves, and the record of the decision.

The decision never reads numbers stored in tags or runs: both models are scored again here, through the same
cached encoding path as `lrat evaluate` (the corpus is not re-encoded by a model that was scored before) and the
simulated agent with the same seed for both (common random numbers).

No stale decisions: aliases move under the registry lock after re-reading @champion; when another process moved
it while this one was evaluating, the candidate is evaluated again against the new champion (up to
`MAX_EVALUATIONS` times, then StaleChampion, exit 2). A dry run (`--dry-run`) decides the same way and writes
nothing to the registry.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lrat.benchmark import Benchmark, as_benchmark
from lrat.evaluation.agent_queries import AGENT_QUERIES, default_source, is_agent_query_metric
from lrat.registry.candidates import Context, peek_candidate, resolve_candidate, training_facts
from lrat.registry.gate import Check, GateConfig, agent_checks, offline_checks, passed, validation_check
from lrat.registry.store import CHAMPION, PREVIOUS, Registry, StaleChampion, Version
from lrat.settings import Agent, Encoding
from lrat.settings import Settings as AllSettings
from lrat.tracking import display_uri

PROMOTED, REFUSED, ROLLED_BACK, UNCHANGED = "promoted", "refused", "rolled_back", "unchanged"
MAX_EVALUATIONS = 3  # a candidate evaluated against this many successive champions, each replaced meanwhile: exit 2


@dataclass(frozen=True)
class Settings:
    """What a promotion decision reads, from params.yaml (`from_settings`)."""

    registry: str
    experiment: str  # one MLflow run per decision
    gate: GateConfig
    world: Benchmark | Path  # a Benchmark, or a folder in the world layout
    base_model: str  # the reference while there is no champion
    cache_dir: Path | None
    encoding: Encoding
    seed: int
    agent: Agent  # params.yaml `agent:`
    context: Context
    logged: Path | None = None  # the held-out questions' logged queries (agent-query metrics); None: none

    @classmethod
    def from_settings(cls, settings: AllSettings, params: Path, world: Benchmark | Path | None,
                      root: Path | None = None) -> Settings:
        """``world`` None: the benchmark `data:` in params.yaml names, with `lrat split`'s held-out questions."""
        registry = settings.registry
        return cls(
            registry=registry.name, experiment=registry.experiment, gate=settings.promote,
            world=Benchmark.from_settings(settings.data) if world is None else world,
            base_model=settings.train.base_model, cache_dir=settings.retrieval.cache_dir,
            encoding=settings.retrieval.encoding, seed=settings.seed, agent=settings.agent,
            context=Context(root or Path.cwd(), params, registry.import_experiment),
            logged=default_source(settings.data.source),
        )


# evaluation ------------------------------------------------------------------------------------------------------


def agent_support(settings: Settings) -> str:
    """Empty when the agent-level checks can run, else why not."""
    from lrat.simulate.store import not_simulated

    if not settings.gate.agent:
        return "promote.agent is off"
    bench = as_benchmark(settings.world)
    if bench.world is None:
        return "data.source is logs: no simulated world to replay the agent in: offline checks only"
    why = not_simulated(bench.world)
    return f"{why}: offline checks only" if why else ""


def evaluate_pair(current: str, candidate: str, settings: Settings, progress: bool = True) -> dict[str, Any]:
    """Both models on the same held-out questions: offline metrics with the paired test (``offline``; on the gold
    qrels too, ``offline_gold``, when the benchmark has them: reported, never gated on), and the agent's success and
    searches with the same seed. MLflow URIs are downloaded once and read from disk by both."""
    from lrat.evaluation.agent import evaluate_agents
    from lrat.evaluation.offline import GOLD, benchmark_sha256, evaluate_offline, without_gold
    from lrat.retrieval.encoder import materialize

    split, world = settings.gate.split, as_benchmark(settings.world)
    encoding = settings.encoding
    why_not = agent_support(settings)
    with tempfile.TemporaryDirectory(prefix="lrat-promote-") as tmp:
        specs = {"current": materialize(current, Path(tmp) / "current"),
                 "candidate": materialize(candidate, Path(tmp) / "candidate")}
        offline = evaluate_offline(specs, world, split, settings.cache_dir, encoding, progress=progress)
        agents = None
        if not why_not:
            agents = evaluate_agents(specs, world, split, settings.seed, settings.agent, settings.cache_dir, None,
                                     progress=progress, encoding=encoding)
        queries, queries_skipped = _agent_queries(specs, world, split, settings, progress)
    scores, tests = offline["models"], offline["significance"]["candidate"]
    p_values = {m: cell["p_value"] for m, cell in without_gold(tests).items()}
    gold = None
    if "n_queries_gold" in offline:  # the benchmark has gold qrels: the same metrics on them, for the record only
        gold = {"n_queries": offline["n_queries_gold"], "current": scores["current"][GOLD],
                "candidate": scores["candidate"][GOLD],
                "p_values": {m: cell["p_value"] for m, cell in tests[GOLD].items()}}
    return {"benchmark": str(world.world or world.queries.parent), "benchmark_sha256": benchmark_sha256(world),
            "split": split,
            "n_queries": offline["n_queries"], "seed": settings.seed, "test": offline["significance"]["test"],
            "offline": {"current": without_gold(scores["current"]), "candidate": without_gold(scores["candidate"]),
                        "p_values": p_values},
            "offline_gold": gold,
            "agent": None if agents is None else {"current": agents["models"]["current"],
                                                  "candidate": agents["models"]["candidate"],
                                                  "n_questions": agents["n_questions"]},
            "agent_skipped": why_not or None,
            AGENT_QUERIES: queries, "agent_queries_skipped": queries_skipped or None}


def _agent_queries(specs: dict[str, str], world: Benchmark, split: str, settings: Settings, progress: bool
                   ) -> tuple[dict[str, Any] | None, str]:
    """Both models on the held-out questions' logged queries (``{"current", "candidate", "p_values",
    "n_questions", "n_searches", "source"}``), or None and why not; an agent-query metric the gate names but
    cannot measure is an error."""
    from lrat.evaluation.agent_queries import score_logged

    source = settings.logged
    result, why = None, "no logged queries"
    if source is not None and not Path(source).exists():
        why = (f"no logged queries at {source} (`make run`'s evaluate stage keeps the base agent's held-out run "
               "files there; on your own logs, `lrat ingest` writes them)")
    elif source is not None:
        result, why = score_logged(specs, world, split, Path(source),
                                   settings.agent.k if world.world is not None else None, settings.cache_dir,
                                   settings.encoding, "current", progress)
    if result is None:
        if is_agent_query_metric(settings.gate.primary) and not settings.gate.fallback_primary:
            raise ValueError(f"promote.primary is {settings.gate.primary}, an agent-query metric, but {why} "
                             "(promote.fallback_primary names a metric to read instead)")
        return None, why
    summary = result["summary"]
    return {"current": result["models"]["current"], "candidate": result["models"]["candidate"],
            "p_values": {m: cell["p_value"] for m, cell in result["significance"]["candidate"].items()},
            "n_questions": summary["n_questions"], "n_searches": summary["n_searches"],
            "n_questions_without_queries": summary["n_questions_without_queries"], "source": summary["source"]}, ""


def gate_checks(evaluation: dict[str, Any], trained: bool, validation: str | None, cfg: GateConfig) -> list:
    offline = evaluation["offline"]
    queries = evaluation.get(AGENT_QUERIES) or {"current": {}, "candidate": {}, "p_values": {}}
    current, candidate = {**offline["current"], **queries["current"]}, {**offline["candidate"], **queries["candidate"]}
    p_values = {**offline["p_values"], **queries["p_values"]}
    why = evaluation.get("agent_queries_skipped") or ""
    fallback = None
    if cfg.primary not in p_values and cfg.fallback_primary in p_values:
        fallback = Check("primary_metric", cfg.fallback_primary, "==", cfg.primary, None,
                         f"promote.primary {cfg.primary} was not measured ({why or 'no such metric'}): the gate "
                         f"reads promote.fallback_primary {cfg.fallback_primary}")
        cfg = cfg.model_copy(update={"primary": cfg.fallback_primary})
    if cfg.primary not in p_values:
        raise ValueError(f"promote.primary {cfg.primary!r} was not measured ({why or 'no such metric'}): the "
                         f"evaluation has {', '.join(p_values)}")
    checks = offline_checks(current, candidate, p_values[cfg.primary], cfg, why)
    if fallback is not None:
        checks.insert(0, fallback)
    checks.append(validation_check(validation, trained, cfg))
    agent = evaluation.get("agent")
    checks += agent_checks(agent and agent["current"], agent and agent["candidate"], cfg,
                           evaluation.get("agent_skipped") or "")
    return checks


# decisions -------------------------------------------------------------------------------------------------------


def _reference(champion: Version | None, settings: Settings) -> dict[str, Any]:
    if champion is None:
        return {"version": None, "uri": settings.base_model, "spec": settings.base_model,
                "note": "no champion yet: the candidate must beat the base model (train.base_model)"}
    return {**champion.brief(), "spec": champion.uri}


def promote(spec: str | None, settings: Settings, registry: Registry | None = None, progress: bool = True,
            dry_run: bool = False) -> dict[str, Any]:
    """Decide on the candidate; move ``previous``/``champion`` only when every applicable check passes. Returns
    the decision record (``decision``: promoted | refused | unchanged when it already is the champion).

    When @champion changes while the candidate is evaluated (another promotion or a rollback finished meanwhile),
    the candidate is evaluated again against the new champion; ``reevaluated`` in the record lists each change.
    ``dry_run``: the same decision and record (``dry_run: true``) with the registry left exactly as it was; a
    candidate that is not registered is evaluated from what was named, not imported."""
    registry = registry or Registry(settings.registry)
    if dry_run:
        candidate, asked = peek_candidate(registry, spec, settings.context)
        return {**judge(candidate, asked, settings, registry, progress), "dry_run": True}
    candidate, asked = resolve_candidate(registry, spec, settings.context)
    return settle(judge(candidate, asked, settings, registry, progress), candidate, asked, settings, registry,
                  progress)


def settle(record: dict[str, Any], candidate: Version, asked: str, settings: Settings, registry: Registry,
           progress: bool = True, saved: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """`apply_decision`, judging the candidate again each time @champion turned out to have moved meanwhile
    (``saved`` sees every new record before its alias moves: the flywheel keeps it for a resume). StaleChampion
    after `MAX_EVALUATIONS` judgements."""
    changes = list(record.get("reevaluated") or [])
    for attempt in range(1, MAX_EVALUATIONS + 1):
        try:
            return apply_decision(record, registry)
        except StaleChampion as stale:
            changes.append({"champion_was": stale.seen, "champion_now": stale.now,
                            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
            if attempt == MAX_EVALUATIONS:
                raise StaleChampion(registry.name, changes[0]["champion_was"], stale.now,
                                    f"version {candidate.version} was evaluated {MAX_EVALUATIONS} times (other "
                                    "promotions keep moving it; try again later)") from None
            if progress:
                print(f"{stale}: evaluating version {candidate.version} again against the new champion",
                      file=sys.stderr)
            record = {**judge(candidate, asked, settings, registry, progress), "reevaluated": changes}
            if saved is not None:
                saved(record)
    raise AssertionError("unreachable")


def judge(candidate: Version, asked: str, settings: Settings, registry: Registry, progress: bool = True
          ) -> dict[str, Any]:
    """The decision record without touching the registry: the flywheel saves it before `apply_decision`, so a
    process killed in between re-applies the same decision instead of evaluating again."""
    champion = registry.by_alias(CHAMPION)
    base = {"registry": {"name": registry.name,
                         "tracking_uri": display_uri(registry.client.tracking_uri, settings.context.root)},
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "candidate": {**candidate.brief(), "spec": asked, "description": candidate.description}}
    if champion is not None and champion.version == candidate.version:
        return {**base, "decision": UNCHANGED, "champion": _reference(champion, settings), "checks": [],
                "reason": f"version {candidate.version} already is @{CHAMPION}; nothing to decide",
                "promotion_run_id": candidate.tags.get("promotion.run_id")}
    reference = _reference(champion, settings)
    evaluation = evaluate_pair(reference["spec"], candidate.uri, settings, progress)
    trained, validation = training_facts(registry, candidate)
    checks = gate_checks(evaluation, trained, validation, settings.gate)
    return {**base, "decision": PROMOTED if passed(checks) else REFUSED, "champion": reference,
            "gate": settings.gate.model_dump(), "evaluation": evaluation,
            "checks": [c.as_dict() for c in checks],
            "candidate": {**base["candidate"], "trained_by_lrat": trained, "validation": validation},
            "lineage": candidate.tags, "aliases": registry.aliases()}


def apply_decision(record: dict[str, Any], registry: Registry) -> dict[str, Any]:
    """Move the aliases a judged record asks for, under the registry lock and only if @champion is still the one
    the record was judged against (StaleChampion otherwise: nothing moves). Idempotent: applied twice (a resumed
    flywheel), the second call finds the candidate already champion and changes nothing."""
    if record["decision"] != PROMOTED:
        return record
    candidate = registry.get(str(record["candidate"]["version"]))
    before = record["champion"].get("version")
    before = None if before is None else str(before)
    with registry.lock():
        now = registry.aliases().get(CHAMPION)
        if now != candidate.version:
            if now != before:
                raise StaleChampion(registry.name, before, now, f"version {candidate.version} was evaluated")
            registry.promote(candidate, registry.get(before) if before else None)
        aliases = registry.aliases()
    return {**record, "aliases": aliases}


def rollback(settings: Settings, registry: Registry | None = None) -> dict[str, Any]:
    """``champion`` back to ``previous``. RegistryError (exit 1 in the CLI) when there is nothing to go back to."""
    registry = registry or Registry(settings.registry)
    seen = registry.aliases().get(CHAMPION)
    with registry.lock():
        restored, rolled_back = registry.rollback(seen)
    return {"registry": {"name": registry.name,
                         "tracking_uri": display_uri(registry.client.tracking_uri, settings.context.root)},
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "decision": ROLLED_BACK,
            "candidate": {**restored.brief(), "spec": f"@{PREVIOUS}", "description": restored.description},
            "champion": {**rolled_back.brief(), "spec": rolled_back.uri}, "checks": [],
            "reason": f"manual rollback: version {rolled_back.version} is no longer @{CHAMPION}; version "
                      f"{restored.version} (was @{PREVIOUS}) is", "lineage": restored.tags,
            "aliases": registry.aliases()}
