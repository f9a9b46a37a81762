"""PNG plots of the behaviour statistics, each with the paper's values drawn beside the measured ones.

Every plot is a pure function of the stats dict (``compute_stats``), so a saved analysis.json can be re-plotted.
matplotlib is imported inside the functions (Agg backend) to keep ``lrat --help`` fast and headless-safe.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lrat.io import atomic_open

DPI = 110
MEASURED, PAPER_COLOR, HUMAN, UNIFORM = "#1f77b4", "#7f7f7f", "#d62728", "#2ca02c"


def _figure(width: float = 8.0, height: float = 4.5, ncols: int = 1) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(1, ncols, figsize=(width, height), squeeze=False)


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=DPI)
    plt.close(fig)


def _v(value: float | None) -> float:
    return 0.0 if value is None else value


def _nothing(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")


def plot_searches_browses(stats: dict[str, Any], path: Path) -> None:
    """Avg searches, avg browses and browses/search for correct vs incorrect runs, measured vs paper."""
    fig, axes = _figure(11, 4, ncols=3)
    groups = ("correct", "incorrect")
    metrics = (("avg_searches", "avg searches per run"), ("avg_browses", "avg browses per run"),
               ("browses_per_search", "browses per search"))
    for ax, (key, label) in zip(axes[0], metrics, strict=True):
        xs = range(len(groups))
        measured = [stats["runs"][g][key] for g in groups]
        paper = [stats["paper"]["runs"][g][key] for g in groups]
        ax.bar([x - 0.2 for x in xs], [_v(m) for m in measured], 0.4, color=MEASURED, label="measured")
        ax.bar([x + 0.2 for x in xs], paper, 0.4, color=PAPER_COLOR, label="paper (Tongyi-30B)")
        for x, m in zip(xs, measured, strict=True):
            if m is None:
                ax.text(x - 0.2, 0, "n/a", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(list(xs), [f"{g}\n(n={stats['runs'][g]['n']})" for g in groups])
        ax.set_ylabel(label)
        ax.set_title(label)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Searches and browses per run")
    _save(fig, path)


def plot_transitions(stats: dict[str, Any], path: Path) -> None:
    """Search/browse transition probabilities (conditional on the source step), measured groups vs paper."""
    from lrat.analyze.stats import TRANSITIONS

    fig, axes = _figure(8, 4.5)
    ax = axes[0][0]
    series = [(f"measured {g} (n={stats['runs'][g]['n']})", stats["transitions"][g], c)
              for g, c in (("all", "#aec7e8"), ("correct", MEASURED), ("incorrect", "#ff7f0e"))]
    series.append(("paper, correct runs", stats["paper"]["transitions"]["correct"], PAPER_COLOR))
    width = 0.8 / len(series)
    for i, (label, probs, color) in enumerate(series):
        xs = [t + (i - (len(series) - 1) / 2) * width for t in range(len(TRANSITIONS))]
        ax.bar(xs, [_v(probs[t]) for t in TRANSITIONS], width, label=label, color=color)
    ax.set_xticks(range(len(TRANSITIONS)), [f"P({t.replace('->', ' → ')})" for t in TRANSITIONS])
    ax.set_ylim(0, 1.35)  # headroom for the legend above bars that reach 1
    ax.set_yticks([i / 5 for i in range(6)])
    ax.set_ylabel("probability given the source step")
    ax.set_title("Step transitions (S = search, B = browse)")
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_browse_by_rank(stats: dict[str, Any], path: Path) -> None:
    """Share of attributed browses per displayed rank, against the paper's agent and human-click curves."""
    fig, axes = _figure(8, 4.5)
    ax = axes[0][0]
    by_rank, paper = stats["browse_by_rank"], stats["paper"]["browse_by_rank"]
    total = sum(by_rank["browses"])
    ax.bar(by_rank["ranks"], [_v(s) for s in by_rank["share"]], 0.7, color=MEASURED,
           label=f"measured ({total} browses)")
    ax.plot(paper["ranks"], paper["agent_share"], "o-", color=PAPER_COLOR, label="paper agent (0.12 → 0.09)")
    ax.plot(paper["ranks"], paper["human_click_share"], "s--", color=HUMAN, label="human clicks (0.20 → 0.04)")
    ax.axhline(paper["uniform_share"], color=UNIFORM, linestyle=":", label="uniform (0.10)")
    if not total:
        _nothing(ax, "no attributed browses")
    ax.set_ylim(0, max([_v(s) for s in by_rank["share"]] + [0.2]) * 1.45)
    ax.set_xticks(by_rank["ranks"])
    ax.set_xlabel("displayed rank of the browsed document")
    ax.set_ylabel("share of browses")
    ax.set_title("Browses by displayed rank (position bias)")
    ax.legend(fontsize=8)
    _save(fig, path)


def plot_reasoning_length(stats: dict[str, Any], path: Path) -> None:
    """Post-browse reasoning length histograms (log-y), evidence vs non-evidence when the split is known."""
    fig, axes = _figure(8, 4.5)
    ax = axes[0][0]
    lengths, paper = stats["reasoning_length"], stats["paper"]["reasoning_length"]["mean"]
    if lengths["evidence"] or lengths["non_evidence"]:
        series = [("evidence", MEASURED), ("non_evidence", "#ff7f0e")]
    else:
        series = [("all", MEASURED)]
    drawn = False
    for key, color in series:
        summary = lengths[key]
        if not summary:
            continue
        hist = summary["histogram"]
        ax.stairs(hist["counts"], hist["edges"], color=color, linewidth=2, label=f"{key} (n={summary['n']})")
        ax.axvline(summary["mean"], color=color, label=f"{key} mean {summary['mean']:.0f}")
        drawn = True
    ax.axvline(paper["evidence"], color=PAPER_COLOR, linestyle="--",
               label=f"paper evidence mean {paper['evidence']:.0f}")
    ax.axvline(paper["non_evidence"], color=PAPER_COLOR, linestyle=":",
               label=f"paper non-evidence mean {paper['non_evidence']:.0f}")
    if drawn:
        from matplotlib.ticker import FuncFormatter, LogLocator

        ax.set_yscale("log", nonpositive="clip")
        top = max(max(lengths[key]["histogram"]["counts"]) for key, _ in series if lengths[key])
        ax.set_ylim(0.5, top * 3)
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    else:
        _nothing(ax, "no post-browse reasoning")
    ax.set_xlabel(f"post-browse reasoning length (tokens, {stats['tokenizer']})")
    ax.set_ylabel("browses")
    ax.set_title("Post-browse reasoning length")
    ax.legend(fontsize=8)
    _save(fig, path)


PLOTS: dict[str, tuple[Callable[[dict[str, Any], Path], None], str]] = {
    "searches_browses.png": (plot_searches_browses,
                             "Average searches, browses and browses per search of correct and incorrect runs, "
                             "measured (blue) beside the paper (grey)."),
    "transitions.png": (plot_transitions,
                        "Probability of the next step given the current one (search S, browse B), per run group, "
                        "beside the paper's correct runs."),
    "browse_by_rank.png": (plot_browse_by_rank,
                           "Share of attributed, non-repeat browses by the displayed rank of the document, beside the "
                           "paper's agent curve, human clicks and uniform."),
    "reasoning_length.png": (plot_reasoning_length,
                             "Histogram of post-browse reasoning lengths (log scale), with measured and paper means."),
}


def write_plots(stats: dict[str, Any], out: Path) -> dict[str, str]:
    """Write every plot into ``out``; returns {file name: caption} for the report."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, (plot, _) in PLOTS.items():
        plot(stats, out / name)
    return {name: caption for name, (_, caption) in PLOTS.items()}
