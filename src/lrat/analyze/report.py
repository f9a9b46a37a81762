"""``report.md``: every headline number measured vs the paper, and the plots, readable on GitHub or in DVC."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lrat.io import atomic_open


def _fmt(value: float | int | None, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def headline_rows(stats: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(quantity, measured, paper) rows: one per number the paper reports, plus the run counts."""
    paper = stats["paper"]
    runs, trans = stats["runs"], stats["transitions"]
    rank, p_rank = stats["browse_by_rank"], paper["browse_by_rank"]
    lengths, p_len = stats["reasoning_length"], paper["reasoning_length"]
    rows: list[tuple[str, str, str]] = [
        ("runs (all / correct / incorrect)", f"{runs['all']['n']} / {runs['correct']['n']} / {runs['incorrect']['n']}",
         "—"),
    ]
    labels = {"avg_searches": "avg searches", "avg_browses": "avg browses",
              "browses_per_search": "browses per search", "avg_steps": "avg steps (searches + browses)"}
    for key, label in labels.items():
        rows.append((f"{label}, all runs", _fmt(runs["all"][key]), "—"))
        for group in ("correct", "incorrect"):
            rows.append((f"{label}, {group} runs", _fmt(runs[group][key]), _fmt(paper["runs"][group][key])))
    for t in ("S->S", "S->B", "B->S", "B->B"):
        arrow = t.replace("->", " → ")
        rows.append((f"P({arrow}), correct runs", _fmt(trans["correct"][t]), _fmt(paper["transitions"]["correct"][t])))
        rows.append((f"P({arrow}), all runs", _fmt(trans["all"][t]), "—"))
    rows += [
        ("browse share at rank 1", _fmt(rank["share"][0], 3), _fmt(p_rank["agent_share"][0], 3)),
        ("browse share at rank 10", _fmt(rank["share"][9], 3), _fmt(p_rank["agent_share"][9], 3)),
        ("position-bias ratio (share rank 1 / rank 10)", _fmt(rank["position_bias_ratio"]),
         _fmt(p_rank["position_bias_ratio"])),
        ("human-click share rank 1 → rank 10", "—",
         f"{_fmt(p_rank['human_click_share'][0])} → {_fmt(p_rank['human_click_share'][9])}"),
    ]
    for group in ("all", "evidence", "non_evidence", "correct", "incorrect"):
        summary = lengths[group]
        measured = "n/a" if summary is None else f"{summary['mean']:.1f} (n={summary['n']})"
        rows.append((f"mean post-browse reasoning tokens, {group.replace('_', '-')}", measured,
                     _fmt(p_len["mean"].get(group), 0) if group in p_len["mean"] else "—"))
    rows.append(("reasoning length ratio evidence / non-evidence", _fmt(lengths["evidence_ratio"]),
                 _fmt(p_len["evidence_ratio"])))
    return rows


def render_report(stats: dict[str, Any], plots: dict[str, str], source: Path | None = None) -> str:
    """The Markdown text; images are linked by file name, relative to the report's directory."""
    evidence = {"qrels": "the qrels file given with --qrels-evidence", "records": "the records' gold_evidence_ids",
                None: "none available, so there is no evidence split"}[stats.get("evidence_source")]
    lines = [
        "# Agent behaviour vs the LRAT paper",
        "",
        f"{stats['n_trajectories']} trajectories" + (f" from `{source}`" if source else "") + ". "
        f"Reasoning lengths counted with the `{stats['tokenizer']}` tokenizer; evidence documents from {evidence}. "
        "Paper values: Tongyi-DeepResearch-30B on BrowseComp-Plus (`lrat-method.md` §8); per-rank paper curves "
        "join the reported endpoints linearly.",
        "",
        "| quantity | measured | paper |",
        "|---|---|---|",
        *(f"| {q} | {m} | {p} |" for q, m, p in headline_rows(stats)),
        "",
    ]
    for name, caption in plots.items():
        title = name.removesuffix(".png").replace("_", " ")
        lines += [f"![{title}]({name})", "", f"*{caption}*", ""]
    return "\n".join(lines)


def write_report(stats: dict[str, Any], path: Path, plots: dict[str, str], source: Path | None = None) -> None:
    with atomic_open(Path(path)) as fh:
        fh.write(render_report(stats, plots, source))
