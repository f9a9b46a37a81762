"""Every decision leaves three records: `metrics/promotion.json` (a DVC metric), `reports/promotion.md` (what a
person reads, also the CI job summary) and an MLflow run in the `lrat-promotion` experiment (checks as metrics,
both files as artifacts). A promoted version is tagged with the run that promoted it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lrat.io import atomic_open, write_json
from lrat.registry.gate import check_name
from lrat.registry.store import Registry

TITLES = {"promoted": "PROMOTED", "refused": "REFUSED", "rolled_back": "ROLLED BACK"}
DRY_TITLES = {"promoted": "WOULD PROMOTE", "refused": "WOULD REFUSE", "unchanged": "ALREADY CHAMPION"}


def fmt(value: Any) -> str:
    """A check's value as tables show it: 4 decimals without trailing zeros, 3 significant digits when tiny."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if value != 0 and abs(value) < 1e-3:
            return f"{value:.3g}"
        return f"{value:.4f}".rstrip("0").rstrip(".") or "0"
    return str(value)


def _who(entry: dict[str, Any], candidate: bool = False) -> str:
    """A registered version; without one, the base model (the reference) or, for a dry run's candidate, what was
    named."""
    if entry.get("version"):
        return f"version {entry['version']}"
    return f"`{entry.get('spec')}` (not registered)" if candidate else f"base model `{entry.get('spec')}`"


def _short(entry: dict[str, Any]) -> str:
    return f"candidate v{entry['version']}" if entry.get("version") else "candidate"


def _score_rows(scores: dict[str, Any]) -> list[str]:
    """``{"current", "candidate", "p_values"}`` as table rows: metric, both values, the change, the p-value."""
    rows = []
    for metric, before in scores["current"].items():
        after = scores["candidate"][metric]
        rows.append(f"| {metric} | {before:.4f} | {after:.4f} | {after - before:+.4f} | "
                    f"{fmt(scores['p_values'].get(metric))} |")
    return rows


def render(record: dict[str, Any]) -> str:
    """The decision as Markdown: verdict, checks (observed, threshold, pass), scores side by side, lineage."""
    cand, champ, name = record["candidate"], record["champion"], record["registry"]["name"]
    dry = bool(record.get("dry_run"))
    verdict = (DRY_TITLES if dry else TITLES).get(record["decision"], record["decision"].upper())
    lines = [f"# Promotion (dry run): {verdict}" if dry else f"# Promotion: {verdict}", ""]
    if dry:
        reference = f"`@champion` ({_who(champ)})" if champ.get("version") else _who(champ) + " (no `@champion`)"
        subject = _who(cand, True)
        lines.append(f"Dry run: nothing in the registry was changed. {subject[:1].upper()}{subject[1:]} "
                     + {"promoted": f"would replace {reference}.", "refused": f"would be refused against {reference}.",
                        }.get(record["decision"], "already is `@champion`."))
    elif record["decision"] == "promoted":
        lines.append(f"`{name}` version {cand['version']} is now `@champion`"
                     + (f"; version {champ['version']} is `@previous`." if champ.get("version") else "."))
    elif record["decision"] == "refused":
        lines.append(f"`{name}` version {cand['version']} was refused; the registry is unchanged "
                     f"(`@champion`: {_who(champ) if champ.get('version') else 'none'}).")
    else:
        lines.append(record.get("reason", ""))
    lines += ["", f"- candidate: {_who(cand, True)} (`{cand.get('uri')}`, asked as `{cand.get('spec')}`)",
              f"- compared with: {_who(champ)}" + (f" — {champ['note']}" if champ.get("note") else ""),
              f"- tracking store: `{record['registry']['tracking_uri']}`; time {record['time']}"]
    if record.get("promotion_run_id"):
        lines.append(f"- MLflow run (experiment `lrat-promotion`): `{record['promotion_run_id']}`")
    if cand.get("description"):
        lines.append(f"- candidate: {cand['description']}")
    for change in record.get("reevaluated") or []:
        lines.append(f"- evaluated again: `@champion` moved from {change['champion_was'] or 'none'} to "
                     f"{change['champion_now'] or 'none'} during the evaluation ({change['time']})")
    evaluation = record.get("evaluation")
    if evaluation:
        lines += [f"- questions: {evaluation['n_queries']} held-out `{evaluation['split']}` questions of "
                  f"`{evaluation['benchmark']}` (sha256 {evaluation['benchmark_sha256'][:12]}…), agent seed "
                  f"{evaluation['seed']}; {evaluation['test']}"]
    if record.get("checks"):
        lines += ["", "## Checks", "", "| check | observed | threshold | result | detail |", "|---|---|---|---|---|"]
        for c in record["checks"]:
            result = "n/a" if c["passed"] is None else ("pass" if c["passed"] else "**FAIL**")
            lines.append(f"| {c['name']} | {fmt(c['observed'])} | {c['op']} {fmt(c['threshold'])} | {result} | "
                         f"{c['detail']} |")
    if evaluation:
        off = evaluation["offline"]
        ref = f"v{champ['version']}" if champ.get("version") else f"base ({champ.get('spec')})"
        lines += ["", "## Offline scores", "", f"| metric | {ref} | {_short(cand)} | Δ | p (paired) |",
                  "|---|---|---|---|---|"]
        lines += _score_rows(off)
        gold = evaluation.get("offline_gold")
        if gold:
            lines += ["", f"## Offline scores on the gold qrels ({gold['n_queries']} questions; not gated on)", "",
                      f"| metric | {ref} | {_short(cand)} | Δ | p (paired) |", "|---|---|---|---|---|"]
            lines += _score_rows(gold)
        queries = evaluation.get("agent_queries")
        if queries:
            lines += ["", f"## Agent-query scores ({queries['n_searches']} logged searches of "
                      f"{queries['n_questions']} held-out questions, `{queries['source']}`)", "",
                      f"| metric | {ref} | {_short(cand)} | Δ | p (paired) |", "|---|---|---|---|---|"]
            lines += _score_rows(queries)
        elif evaluation.get("agent_queries_skipped"):
            lines += ["", f"Agent-query scores skipped: {evaluation['agent_queries_skipped']}."]
        agent = evaluation.get("agent")
        if agent:
            lines += ["", f"## Simulated agent ({agent['n_questions']} questions, same seed)", "",
                      "| | success | evidence recall | searches / question | browses / question |",
                      "|---|---|---|---|---|"]
            for key, label in (("current", ref), ("candidate", _short(cand))):
                a = agent[key]
                lines.append(f"| {label} | {a['success']} | {a['evidence_recall']} | {a['avg_search_calls']} | "
                             f"{a['avg_browse_calls']} |")
        elif evaluation.get("agent_skipped"):
            lines += ["", f"Agent-level checks skipped: {evaluation['agent_skipped']}."]
    if record.get("lineage"):
        lines += ["", "## Candidate lineage (version tags)", "", "| tag | value |", "|---|---|"]
        lines += [f"| {k} | `{v}` |" for k, v in sorted(record["lineage"].items())]
    if record.get("aliases") is not None:
        aliases = ", ".join(f"`@{a}` → {v}" for a, v in sorted(record["aliases"].items())) or "none"
        lines += ["", f"Aliases {'(unchanged)' if dry else 'now'}: {aliases}.", "",
                  "Undo a promotion with `lrat promote --rollback`; re-run the gate with `lrat promote`."]
    return "\n".join(lines) + "\n"


def log_decision(record: dict[str, Any], experiment: str, registry: Registry, root: Path) -> str:
    """One MLflow run per decision; returns its id. A promoted version gets ``promotion.run_id`` and
    ``validation_status=approved`` tags pointing back at it."""
    import mlflow

    from lrat.tracking import flat, use_experiment

    use_experiment(experiment, root)
    cand, champ = record["candidate"], record["champion"]
    tags = {"decision": record["decision"], "registry.name": registry.name,
            "candidate.version": str(cand.get("version")), "champion.version": str(champ.get("version") or "base")}
    with mlflow.start_run(run_name=f"{record['decision']} v{cand.get('version')}", tags=tags) as run:
        if record.get("gate"):
            mlflow.log_params({k: str(v) for k, v in flat("gate", record["gate"]).items()})
        mlflow.log_params({"candidate.spec": str(cand.get("spec")), "champion.spec": str(champ.get("spec"))})
        metrics: dict[str, float] = {}
        for check in record.get("checks") or []:
            key = check_name(f"check.{check['name']}")
            if isinstance(check["observed"], int | float) and not isinstance(check["observed"], bool):
                metrics[key] = float(check["observed"])
            if check["passed"] is not None:
                metrics[f"{key}.passed"] = float(check["passed"])
        evaluation = record.get("evaluation") or {}
        for side in ("current", "candidate"):
            for metric, value in ((evaluation.get("offline") or {}).get(side) or {}).items():
                metrics[check_name(f"{side}.{metric}")] = float(value)
            for metric, value in ((evaluation.get("offline_gold") or {}).get(side) or {}).items():
                metrics[check_name(f"{side}.gold.{metric}")] = float(value)
            for metric, value in ((evaluation.get("agent") or {}).get(side) or {}).items():
                metrics[f"{side}.agent.{metric}"] = float(value)
        if metrics:
            mlflow.log_metrics(metrics)
        mlflow.log_dict(record, "promotion.json")
        mlflow.log_text(render(record), "promotion.md")
    if record["decision"] == "promoted":
        registry.tag(str(cand["version"]), {"promotion.run_id": run.info.run_id, "validation_status": "approved",
                                            "promotion.time": record["time"]})
    return run.info.run_id


def write_records(record: dict[str, Any], metrics: Path | None, report: Path | None) -> None:
    if metrics is not None:
        write_json(metrics, record)
    if report is not None:
        with atomic_open(report) as fh:
            fh.write(render(record))


def record_decision(record: dict[str, Any], experiment: str, registry: Registry, root: Path,
                    metrics: Path | None, report: Path | None) -> dict[str, Any]:
    """Files first (they survive a tracking server that went away), then the MLflow run, then the files again
    with the run's id. The store is recorded as `lrat.tracking.display_uri` shows it from ``root``: relative to
    the repository, without credentials (a record judged elsewhere may still hold the raw URI)."""
    from lrat.tracking import display_uri

    store = record.get("registry") or {}
    if store.get("tracking_uri"):
        record = {**record, "registry": {**store, "tracking_uri": display_uri(store["tracking_uri"], root)}}
    write_records(record, metrics, report)
    record["promotion_run_id"] = log_decision(record, experiment, registry, root)
    write_records(record, metrics, report)
    return record
