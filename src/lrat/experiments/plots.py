"""The two experiments' figures (matplotlib Agg, written atomically like the ablation's): each reads only the
report JSON, so a figure can be redrawn from metrics/*.json without rerunning anything."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from lrat.io import atomic_open


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=110)


def _not_available(ax: Any, title: str, reason: str | None) -> None:
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, "n/a\n\n" + textwrap.fill(reason or "not evaluated", 40), ha="center", va="center",
            fontsize=8, transform=ax.transAxes)


def draw_scaling(report: dict[str, Any], path: Path) -> None:
    """Held-out recall@10 (left) and agent success (right) against the number of training trajectories; the base
    model is the 0-trajectory point and a dashed line."""
    plt = _pyplot()
    points = [p for p in report["points"] if p.get("offline")]
    xs = [p["trajectories"] for p in points]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    series = [(left, "recall@10", "held-out recall@10", [p["offline"]["recall@10"] for p in points])]
    if report["agent"]["evaluated"]:
        series.append((right, "success", "agent success", [p["agent"]["success"] for p in points]))
    else:
        _not_available(right, "agent success", report["agent"].get("skipped"))
    for ax, _, title, ys in series:
        ax.plot(xs, ys, marker="o", color="tab:blue")
        ax.axhline(ys[0], color="grey", linestyle="--", linewidth=1, label="base (0 trajectories)")
        for p, x, y in zip(points, xs, ys, strict=True):
            rows = f"\n{p['train_rows']} rows" if p["trajectories"] else ""
            ax.annotate(f"{y:.3f}{rows}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center",
                        fontsize=7)
        ax.set_xlabel("training trajectories")
        ax.set_title(title)
        low, high = min(ys), max(ys)
        pad = max(0.02, (high - low) * 0.35)
        ax.set_ylim(max(0.0, low - pad), min(1.0, high + pad * 1.6))
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(alpha=0.3)
    fig.suptitle(f"Scaling: {report['n_queries']} held-out {report['split']} questions, the same for every point "
                 f"(row budget: {'all rows' if report['train']['max_rows'] is None else report['train']['max_rows']})",
                 fontsize=10)
    fig.text(0.5, 0.01, report.get("paper", ""), ha="center", fontsize=7, style="italic")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    _save(fig, path)
    plt.close(fig)


def draw_topk(report: dict[str, Any], path: Path) -> None:
    """Base and champion at every k (agent success where the agent ran, else offline recall@k, so labelled), and
    the champion's relative gain per k."""
    plt = _pyplot()
    results = report["results"]
    ks = [r["k"] for r in results]
    agent = report["mode"] == "agent"
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    if agent:
        values = {name: [r["agent"][name]["success"] for r in results] for name in ("base", "champion")}
        ylabel, title = "agent success", "agent success vs results per search"
    else:
        values = {name: [r["offline"][name] for r in results] for name in ("base", "champion")}
        ylabel, title = "evidence recall@k (offline)", "OFFLINE evidence recall@k (agent n/a)"
    for name, color in (("base", "grey"), ("champion", "tab:blue")):
        left.plot(ks, values[name], marker="o", color=color, label=name)
        for k, y in zip(ks, values[name], strict=True):
            left.annotate(f"{y:.3f}", (k, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7)
    left.set_xscale("log")
    left.set_xticks(ks, [str(k) for k in ks])
    left.minorticks_off()
    left.set_xlabel("k (results per search)")
    left.set_ylabel(ylabel)
    left.set_title(title, fontsize=10)
    left.legend(fontsize=8)
    left.grid(alpha=0.3)

    bars = [("offline recall@k", [r["offline"]["gain"] for r in results], "tab:orange")]
    if agent:
        bars[:0] = [("agent success", [r["agent"]["gain"]["success"] for r in results], "tab:blue"),
                    ("agent evidence recall", [r["agent"]["gain"]["evidence_recall"] for r in results], "tab:green")]
    width = 0.8 / len(bars)
    for j, (label, gains, color) in enumerate(bars):
        heights = [100 * (g or 0.0) for g in gains]
        drawn = right.bar([i + j * width for i in range(len(ks))], heights, width, label=label, color=color)
        right.bar_label(drawn, labels=["n/a" if g is None else f"{100 * g:+.1f}" for g in gains], fontsize=7)
    right.axhline(0, color="black", linewidth=0.8)
    right.margins(y=0.15)
    right.set_xticks([i + width * (len(bars) - 1) / 2 for i in range(len(ks))], [f"k={k}" for k in ks])
    right.set_ylabel("champion vs base (%)")
    right.set_title("relative gain per k", fontsize=10)
    right.legend(fontsize=7)
    right.grid(alpha=0.3, axis="y")
    champion = report["models"]["champion"]
    name = champion["spec"] + (f" (version {champion['version']})" if champion.get("version") else "")
    fig.suptitle(f"Top-k: base vs {name} on {report['n_questions']} held-out {report['split']} questions, "
                 f"seed {report['seed']}", fontsize=10)
    fig.text(0.5, 0.01, report.get("paper", ""), ha="center", fontsize=7, style="italic")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    _save(fig, path)
    plt.close(fig)


def alignment_plot(report: dict[str, Any], path: Path) -> None:
    """One scatter per offline metric: the metric (x) against the simulated agent's success (y), one point per
    retriever, Kendall's tau in the title; question-level metrics in blue, agent-query metrics in orange."""
    import math

    plt = _pyplot()
    table, models = report["alignment"], report["models"]
    metrics = list(table)
    cols = 4
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.4 * rows), squeeze=False)
    success = {name: row["agent"]["success"] for name, row in models.items()}
    for ax, metric in zip(axes.flat, metrics, strict=False):
        entry = table[metric]
        key = "offline" if entry["kind"] == "question" else "agent_queries"
        xs = [models[name][key][metric] for name in models]
        ax.scatter(xs, list(success.values()), color="tab:blue" if key == "offline" else "tab:orange", s=22)
        for name, x in zip(models, xs, strict=True):
            ax.annotate(name, (x, success[name]), fontsize=6, xytext=(2, 2), textcoords="offset points")
        tau = "n/a" if entry["kendall_tau"] is None else f"{entry['kendall_tau']:+.2f}"
        ax.set_title(f"{metric}  (tau {tau})", fontsize=9)
        ax.set_xlabel(("question-level " if key == "offline" else "agent-query ") + metric, fontsize=8)
        ax.set_ylabel("agent success", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    decision = report.get("decision") or {}
    fig.suptitle(f"Which offline metric predicts the agent? {len(models)} retrievers, {report['n_questions']} "
                 f"held-out questions; best agent-query metric: {decision.get('best_agent_query')}", fontsize=10)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
