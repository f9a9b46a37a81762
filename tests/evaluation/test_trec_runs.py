"""`lrat evaluate --runs-out` and `--run`: the TREC runs the command writes give, re-scored by ranx itself and by
`lrat evaluate --run`, exactly the numbers of the eval.json the same command wrote."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lrat.cli import app
from lrat.evaluation.offline import GOLD, METRICS, _p_value, _round

from .test_offline import Setup


@pytest.fixture(scope="module")
def written(setup: Setup, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One `lrat evaluate` of base and the small model with --runs-out: (the runs folder, its eval.json)."""
    root = tmp_path_factory.mktemp("trec")
    result = CliRunner().invoke(app, [
        "evaluate", "--world", str(setup.world_dir), "--no-agent", "--model", "base=base", "--model",
        f"small={setup.small}", "--runs-out", str(root / "runs"), "--out", str(root / "eval.json"),
        "--params", str(root / "none.yaml"), "--quiet"])
    assert result.exit_code == 0, result.output
    return root / "runs", json.loads((root / "eval.json").read_text())


def _qrels(path: Path, questions: list[str]) -> dict[str, dict[str, int]]:
    """A TREC qrels file's relevant documents of ``questions`` (read here, not by lrat's reader)."""
    qrels: dict[str, dict[str, int]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        qid, _, docid, rel = line.split()
        if qid in questions and int(rel) > 0:
            qrels.setdefault(qid, {})[docid] = int(rel)
    return qrels


def _lines(path: Path) -> dict[str, list[tuple[str, int, float, str]]]:
    rows: dict[str, list[tuple[str, int, float, str]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        columns = line.split()
        assert len(columns) == 6 and columns[1] == "Q0", line
        qid, _, docid, rank, score, tag = columns
        rows.setdefault(qid, []).append((docid, int(rank), float(score), tag))
    return rows


def test_runs_are_trec_files_in_rank_order(setup: Setup, written: tuple[Path, dict]) -> None:
    runs, evaluation = written
    assert sorted(p.name for p in runs.iterdir()) == ["base.trec", "small.trec"]
    test = json.loads((setup.world_dir / "splits.json").read_text())["test"]
    for name in ("base", "small"):
        rows = _lines(runs / f"{name}.trec")
        assert list(rows) == test  # every test question (all have evidence and golds here), splits.json order
        for entries in rows.values():
            assert len(entries) == evaluation["depth"] == 300  # min(1000, corpus size)
            assert [rank for _, rank, _, _ in entries] == list(range(1, 301))
            assert {tag for *_, tag in entries} == {name}
            scores = [score for _, _, score, _ in entries]
            assert scores == sorted(scores, reverse=True)  # the retriever's scores, best first
            assert len({docid for docid, *_ in entries}) == 300


def test_ranx_rescores_the_runs_to_the_eval_json_numbers(setup: Setup, written: tuple[Path, dict]) -> None:
    """ranx sorts each question's documents by score and breaks equal scores its own way, while the retriever
    breaks them by corpus order (its scores are rounded to 5 decimals, so equal scores happen): the runs go to ranx
    with scores made from the rank column (depth + 1 - rank), which keep the file's order exactly."""
    pytest.importorskip("ranx")
    from numba.core.errors import NumbaTypeSafetyWarning
    from ranx import Qrels, Run, compare

    runs, evaluation = written
    test = json.loads((setup.world_dir / "splits.json").read_text())["test"]
    ranx_runs = []
    for name in ("base", "small"):
        rows = _lines(runs / f"{name}.trec")
        ranx_runs.append(Run({q: {docid: float(len(entries) + 1 - rank) for docid, rank, _, _ in entries}
                              for q, entries in rows.items()}, name=name))
    for qrels_file, scores_of, n_key in (("qrel_evidence.txt", lambda m: m, "n_queries"),
                                         ("qrel_golds.txt", lambda m: m[GOLD], "n_queries_gold")):
        qrels = _qrels(setup.world_dir / qrels_file, test)
        assert evaluation[n_key] == len(qrels)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NumbaTypeSafetyWarning)
            report = compare(Qrels(qrels), ranx_runs, list(METRICS), stat_test="student", max_p=0.05,
                             make_comparable=True)
        for name in ("base", "small"):
            assert {m: v for m, v in scores_of(evaluation["models"][name]).items() if m != GOLD} == {
                m: _round(report.results[name][m]) for m in METRICS}, (qrels_file, name)
        pair = report.comparisons[frozenset(("base", "small"))]
        assert {m: c["p_value"] for m, c in scores_of(evaluation["significance"]["small"]).items() if m != GOLD} == {
            m: _p_value(pair[m]["p_value"]) for m in METRICS}, qrels_file


def test_scoring_the_runs_gives_the_same_json(setup: Setup, written: tuple[Path, dict], tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    runs, evaluation = written
    world = setup.world_dir
    args = ["evaluate", "--run", f"base={runs / 'base.trec'}", "--run", f"small={runs / 'small.trec'}", "--qrels",
            str(world / "qrel_evidence.txt"), "--qrels-golds", str(world / "qrel_golds.txt"), "--split", "test"]
    for where in (["--world", str(world)], ["--splits", str(world / "splits.json")]):
        out = tmp_path / "scored.json"
        result = CliRunner().invoke(app, [*args, *where, "--out", str(out)])
        assert result.exit_code == 0, result.output
        scored = json.loads(out.read_text())
        for key in ("split", "n_queries", "n_queries_gold", "depth", "models", "significance"):
            assert scored[key] == evaluation[key], key
        assert scored["runs"] == {"base": str(runs / "base.trec"), "small": str(runs / "small.trec")}
        assert "small (gold qrels): recall@5" in result.stderr

    # without --split: every question of the qrels; the runs rank the test questions only, the rest score 0
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["evaluate", "--run", f"base={runs / 'base.trec'}", "--qrels",
                                      str(world / "qrel_evidence.txt"), "--json"])
    assert result.exit_code == 0, result.output
    everything = json.loads(result.stdout)["eval"]
    assert everything["split"] is None and everything["n_queries"] == len(setup.world.questions)
    assert "n_queries_gold" not in everything  # no --qrels-golds: none with --run
    share = evaluation["n_queries"] / everything["n_queries"]
    assert everything["models"]["base"]["recall@1000"] == pytest.approx(share, abs=1e-4)
    assert "ranks nothing for" in result.stderr and "they score 0" in result.stderr
    assert not (tmp_path / "metrics").exists()  # --run writes no eval.json unless --out says where


def test_scoring_runs_loads_no_model(setup: Setup, written: tuple[Path, dict]) -> None:
    runs, _ = written
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom lrat.cli import app\n"
            f"r = CliRunner().invoke(app, ['evaluate', '--run', {str(runs / 'small.trec')!r}, '--qrels', "
            f"{str(setup.world_dir / 'qrel_evidence.txt')!r}, '--quiet'])\n"
            "assert r.exit_code == 0, r.output\n"
            "heavy = ('torch', 'sentence_transformers', 'faiss', 'transformers')\n"
            "print(sorted(m for m in heavy if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_run_usage_errors_exit_2(setup: Setup, written: tuple[Path, dict], tmp_path: Path) -> None:
    runs, _ = written
    qrels = str(setup.world_dir / "qrel_evidence.txt")
    lines = (runs / "small.trec").read_text(encoding="utf-8").splitlines()
    broken = tmp_path / "broken.trec"
    broken.write_text("\n".join([*lines[:4], "q-1 Q0 doc-1 5", *lines[4:]]) + "\n", encoding="utf-8")
    cases = {
        f"{broken}:5: expected 6 columns": ["--run", f"broken={broken}", "--qrels", qrels],
        "--run and --model are mutually exclusive": ["--run", f"base={runs / 'base.trec'}", "--model", "base=base",
                                                     "--qrels", qrels],
        "--run needs --qrels": ["--run", f"base={runs / 'base.trec'}"],
        "--qrels goes with --run": ["--model", "base=base", "--qrels", qrels],
        "--runs-out goes with --model": ["--run", f"base={runs / 'base.trec'}", "--qrels", qrels, "--runs-out",
                                         str(tmp_path / "r")],
        "not found": ["--run", f"x={tmp_path / 'missing.trec'}", "--qrels", qrels],
        "unknown split 'nope'": ["--run", f"base={runs / 'base.trec'}", "--qrels", qrels, "--split", "nope",
                                 "--world", str(setup.world_dir)],
    }
    for message, args in cases.items():
        result = CliRunner().invoke(app, ["evaluate", *args, "--out", str(tmp_path / "x.json")])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (message, result.stderr)
        assert "Traceback" not in result.output
    assert not (tmp_path / "x.json").exists()
