"""`lrat mine` with the project's preset on simulated trajectories: labels, metrics, rejects, judge, CLI."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from lrat.mining.command import mine_command
from lrat.mining.options import resolve_options
from lrat.mining.run import mine

from ..judge.server import ChatServer

LRAT_KEYS = {"trajectory_id", "query_id", "search_ordinal", "query", "pos_id", "pos", "neg_ids", "negs",
             "reasoning_len", "satisfied", "judge", "weight", "group", "pairing"}


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_lrat_rows_are_traceable_weighted_and_keep_evidence(sim, tmp_path: Path):
    trajectories, corpus = sim
    summary = mine(trajectories, corpus, tmp_path / "labels.jsonl", resolve_options("lrat", {}, {}),
                   tmp_path / "mining.json")
    rows = read(tmp_path / "labels.jsonl")
    assert rows and all(set(r) == LRAT_KEYS for r in rows) and len(rows) == summary["rows"]
    by_id = {t["trajectory_id"]: t for t in read(trajectories)}
    for row in rows:
        search = next(s for s in by_id[row["trajectory_id"]]["steps"]
                      if s["kind"] == "search" and s["ordinal"] == row["search_ordinal"])
        assert search["query"] == row["query"] and row["pos_id"] in {r["docid"] for r in search["results"]}
        assert row["pos_id"] not in row["neg_ids"] and len(row["negs"]) == len(row["neg_ids"])
        assert row["satisfied"] is False or row["neg_ids"]
    assert abs(statistics.mean(r["weight"] for r in rows) - 1.0) < 1e-9
    assert summary["evidence_retention"] >= 0.9 > summary["non_evidence_retention"]
    assert json.loads((tmp_path / "mining.json").read_text()) == summary
    assert len({(r["trajectory_id"], r["search_ordinal"], r["pos_id"]) for r in rows}) == len(rows)


def test_weights_are_normalised_per_source_group(sim, tmp_path: Path):
    trajectories, corpus = sim
    mixed = tmp_path / "mixed.jsonl"
    with mixed.open("w") as fh:
        for i, record in enumerate(read(trajectories)):
            record["source"]["retriever"] = "bm25" if i % 2 else "dense"
            if i % 2:  # the second source's agent writes twice as much
                for step in record["steps"]:
                    if step["kind"] == "browse" and step["reasoning_after"]:
                        step["reasoning_after"] += " " + step["reasoning_after"]
            fh.write(json.dumps(record) + "\n")
    summary = mine(mixed, corpus, tmp_path / "labels.jsonl", resolve_options("lrat", {}, {}), progress=False)
    rows = read(tmp_path / "labels.jsonl")
    assert set(summary["groups"]) == {"bm25", "dense"}
    assert summary["groups"]["bm25"]["half_life"] > 1.5 * summary["groups"]["dense"]["half_life"]
    for group in ("bm25", "dense"):
        assert abs(statistics.mean(r["weight"] for r in rows if r["group"] == group) - 1.0) < 1e-9


def test_bad_lines_are_rejected_with_file_and_line_and_the_rest_is_mined(sim, tmp_path: Path):
    trajectories, corpus = sim
    lines = trajectories.read_text().splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([lines[0], "{not json", '{"steps": []}', lines[1], '{"trajectory_id": "x", '
                                 '"steps": [1]}']) + "\n")
    summary = mine(broken, corpus, tmp_path / "labels.jsonl", resolve_options("lrat", {}, {}), progress=False)
    rejects = read(tmp_path / "labels.rejects.jsonl")
    assert [r["line"] for r in rejects] == [2, 3, 5] and all(r["path"] == str(broken) for r in rejects)
    assert summary["trajectories"]["rejected"] == 3 and summary["trajectories"]["read"] == 2


def test_flagembedding_format_has_exactly_the_released_keys(sim, tmp_path: Path):
    trajectories, corpus = sim
    mine(trajectories, corpus, tmp_path / "fe.jsonl", resolve_options("lrat", {}, {"format": "flagembedding"}),
         progress=False)
    for row in read(tmp_path / "fe.jsonl"):
        assert list(row) == ["query", "pos", "neg", "pos_id", "neg_id", "reasoning_len", "satisfied",
                             "reweight_rate"]
        assert len(row["pos"]) == len(row["pos_id"]) == 1 and len(row["neg"]) == len(row["neg_id"])


def test_the_http_judge_caches_verdicts_and_reports_errors_by_policy(sim, tmp_path: Path):
    trajectories, corpus = sim
    cache = tmp_path / "verdicts.sqlite"
    params = {"judge": "openai", "judge_cache": str(cache), "retries": 0, "backoff": 0.0, "timeout": 5}
    with ChatServer(marker=" is not relevant to ") as server:
        opts = resolve_options("lrat", params, {"judge_url": server.url, "judge_model": "m"})
        first = mine(trajectories, corpus, tmp_path / "a.jsonl", opts, progress=False)
        second = mine(trajectories, corpus, tmp_path / "b.jsonl", opts, progress=False)
        assert first["judge"]["calls"] > 0 and first["judge"]["errors"] == 0
        assert second["judge"]["calls"] == 0 and second["judge"]["cache_hits"] == second["judge"]["verdicts"]
        assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
        assert 0 < first["satisfied_ratio"] < 1
        server.status = 500
        failing = {**params, "judge_cache": None}
        kept = mine(trajectories, corpus, tmp_path / "c.jsonl",
                    resolve_options("lrat", {**failing, "on_error": "relevant"}, {"judge_url": server.url,
                                                                                  "judge_model": "m"}),
                    progress=False)
        assert kept["judge"]["errors"] == kept["judge"]["verdicts"] > 0 and kept["satisfied_ratio"] == 1.0
        assert all(r["judge"]["error"] and r["judge"]["verdict"] is None for r in read(tmp_path / "c.jsonl"))
        dropped = mine(trajectories, corpus, tmp_path / "d.jsonl",
                       resolve_options("lrat", failing, {"judge_url": server.url, "judge_model": "m"}),
                       progress=False)
        assert dropped["rows"] == 0 and dropped["browses"]["dropped_by_judge_policy"] == kept["judge"]["errors"]


def _cli(tmp_path: Path, params: dict, *args: str) -> tuple[int, str, str]:
    app = typer.Typer()
    app.command()(mine_command)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"mine": params}))
    result = CliRunner().invoke(app, [*args, "--params", str(tmp_path / "params.yaml"), "--quiet"])
    return result.exit_code, result.stdout, result.stderr


def test_cli_exit_codes_and_messages(sim, tmp_path: Path):
    trajectories, corpus = sim
    base = ["--trajectories", str(trajectories), "--corpus", str(corpus), "--out", str(tmp_path / "l.jsonl"),
            "--metrics", str(tmp_path / "m.json")]
    code, out, _ = _cli(tmp_path, {"preset": "lrat"}, *base, "--json")
    assert code == 0 and json.loads(out)["rows"] > 0 and (tmp_path / "m.json").exists()
    code, _, err = _cli(tmp_path, {}, *base, "--preset", "nope")
    assert code == 2 and "unknown preset 'nope'" in err
    code, _, err = _cli(tmp_path, {}, *base, "--judge", "openai")
    assert code == 2 and "--judge-url" in err
    code, _, err = _cli(tmp_path, {"colour": "red"}, *base)
    assert code == 2 and "colour" in err
    with ChatServer() as server:
        server.status = 500
        code, _, err = _cli(tmp_path, {"on_error": "fail", "retries": 0, "backoff": 0.0}, *base, "--judge",
                            "openai", "--judge-url", server.url, "--judge-model", "m")
    assert code == 3 and "on_error" in err and "500" in err


def test_the_repository_params_resolve_for_both_presets():
    params = yaml.safe_load((Path(__file__).resolve().parents[2] / "params.yaml").read_text())["mine"]
    lrat = resolve_options(None, params, {})
    official = resolve_options("official", params, {})
    assert (lrat.preset, lrat.pairing, lrat.on_error, lrat.group_by) == ("lrat", "attributed", "drop",
                                                                        "source.retriever")
    assert (official.pairing, official.on_error, official.group_by, official.statuses) == ("latest", "not_relevant",
                                                                                           None, None)
    assert official.judge_settings["sampling"]["temperature"] == 0.8


@pytest.mark.slow
def test_statistics_go_to_the_active_mlflow_run(sim, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import mlflow

    trajectories, corpus = sim
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    with mlflow.start_run() as run:
        summary = mine(trajectories, corpus, tmp_path / "l.jsonl", resolve_options("lrat", {}, {}), progress=False)
    logged = mlflow.get_run(run.info.run_id).data.metrics
    assert logged["mining.rows"] == summary["rows"]
    assert logged["mining.evidence_retention"] == pytest.approx(summary["evidence_retention"])
    group = next(iter(summary["groups"]))
    assert logged[f"mining.{group}.h_raw"] == pytest.approx(summary["groups"][group]["h_raw"])
