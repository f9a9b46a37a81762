"""What a flywheel shows: metrics/flywheel.json (one row per round, round 0 = where it started), a Markdown table
and reports/flywheel.png with the offline and agent-level curves beside the paper's curve shape."""

from __future__ import annotations

import math
import time
from typing import Any

from lrat.io import atomic_open, write_json

PAPER = "paper (method §7): recall ~49 -> ~62 over 5 rounds, log-like; success ~18 -> ~22-24"


def start_row(first: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """Round 0: the champion the flywheel started from, as the first round's gate measured it."""
    return {"round": 0, "decision": "start", "champion": first["champion_before"], "base": reference["base"],
            "oracle": reference["oracle"]}


def build(plan: dict[str, Any], reference: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    table = [start_row(rows[0], reference)] + [{**r, "base": reference["base"], "oracle": reference["oracle"]}
                                               for r in rows]
    first, last = table[0]["champion"], table[-1]["champion"]
    return {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "settings": plan,
            "held_out": {"split": reference["split"], "n_queries": reference["n_queries"]},
            "rounds": table,
            "summary": {"rounds": len(rows), "promotions": sum(r["decision"] == "promoted" for r in rows),
                        "champion_version": last["version"],
                        "recall@10": [_metric(r["champion"], "offline", "recall@10") for r in table],
                        "recall@10_start": _metric(first, "offline", "recall@10"),
                        "recall@10_end": _metric(last, "offline", "recall@10"),
                        "agent_success_start": _metric(first, "agent", "success"),
                        "agent_success_end": _metric(last, "agent", "success"),
                        "seconds": round(sum(r.get("seconds") or 0 for r in rows), 1)},
            "paper": PAPER}


def _metric(side: dict[str, Any] | None, kind: str, name: str) -> float | None:
    values = (side or {}).get(kind) or {}
    return values.get(name)


def write_reports(ctx: Any, plan: dict[str, Any], reference: dict[str, Any], rows: list[dict[str, Any]]
                  ) -> dict[str, Any]:
    report = build(plan, reference, rows)
    write_json(ctx.cfg.metrics, report)
    with atomic_open(ctx.cfg.report) as fh:
        fh.write(markdown(report))
    draw(report, ctx.cfg.plot)
    return report


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _served(served: dict[str, Any], registry: str | None) -> str:
    if not served:
        return "—"
    return f"v{served['version']}" if served.get("name") == registry else "base"


def markdown(report: dict[str, Any]) -> str:
    held = report["held_out"]
    lines = [f"# Flywheel: {report['summary']['rounds']} round(s), held-out {held['split']} "
             f"({held['n_queries']} questions)", "",
             "| round | served | trajectories (window) | labels (used) | challenger R@10 | decision | champion | "
             "R@10 | nDCG@10 | agent success | searches/q | base success | oracle success |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["rounds"]:
        champ, chal = r["champion"], r.get("challenger") or {}
        served = r.get("served") or {}
        lines.append("| " + " | ".join([
            str(r["round"]), _served(served, report["settings"].get("registry")),
            f"{r['trajectories']} ({r['window_trajectories']})" if "trajectories" in r else "—",
            f"{r['labels']} ({r['labels_used']})" if "labels" in r else "—",
            _fmt(_metric(chal, "offline", "recall@10")), r["decision"] + (
                f" ({', '.join(r['failed_checks'])})" if r.get("failed_checks") else ""),
            f"v{champ['version']}" if champ.get("version") else "base",
            _fmt(_metric(champ, "offline", "recall@10")), _fmt(_metric(champ, "offline", "ndcg@10")),
            _fmt(_metric(champ, "agent", "success")), _fmt(_metric(champ, "agent", "avg_search_calls"), 2),
            _fmt(_metric(r["base"], "agent", "success")), _fmt(_metric(r["oracle"], "agent", "success"))]) + " |")
    lines += ["", f"Beside the {report['paper']}.", ""]
    return "\n".join(lines)


def paper_shape(rounds: int) -> list[float]:
    """The paper's recall curve relative to its start: 49 → 62 over 5 rounds, rising like log(1 + round)."""
    return [1 + (62 / 49 - 1) * math.log1p(t) / math.log1p(5) for t in range(rounds + 1)]


def draw(report: dict[str, Any], path: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["rounds"]
    xs = [r["round"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))

    def series(side: str, kind: str, name: str) -> list[float | None]:
        return [_metric(r.get(side), kind, name) for r in rows]

    ax = axes[0]
    for name, style in (("recall@10", "o-"), ("ndcg@10", "s-")):
        ax.plot(xs, series("champion", "offline", name), style, label=f"champion {name}")
        ax.axhline(_metric(rows[0]["base"], "offline", name) or math.nan, ls="--", lw=1, color="grey")
    ax.plot(xs[1:], series("challenger", "offline", "recall@10")[1:], "o", mfc="none", label="challenger recall@10")
    ax.set(title="Held-out offline (dashed: base)", xlabel="round", xticks=xs)
    ax.legend(fontsize=7)

    ax = axes[1]
    ax.plot(xs, series("champion", "agent", "success"), "o-", label="champion")
    ax.plot(xs[1:], series("challenger", "agent", "success")[1:], "o", mfc="none", label="challenger")
    ax.plot(xs, series("base", "agent", "success"), "--", color="grey", label="base")
    ax.plot(xs, series("oracle", "agent", "success"), ":", color="black", label="oracle (ceiling)")
    ax.set(title="Agent success on held-out questions", xlabel="round", xticks=xs)
    ax.legend(fontsize=7)

    ax = axes[2]
    recall = series("champion", "offline", "recall@10")
    if recall[0]:
        ax.plot(xs, [v / recall[0] if v else math.nan for v in recall], "o-", label="ours: champion recall@10")
    ax.plot(list(range(len(xs))), paper_shape(len(xs) - 1), "--", color="grey", label="paper's shape (49 -> 62)")
    ax.set(title="Recall@10 relative to round 0", xlabel="round", xticks=xs)
    ax.legend(fontsize=7)
    fig.suptitle("LRAT data flywheel: serve -> collect -> mine -> validate -> train -> gate")
    fig.tight_layout()
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)
    plt.close(fig)
