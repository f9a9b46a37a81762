"""`lrat train` under torchrun / accelerate launch: two CPU processes (gloo) train like one process on the same
global batches, and the launch is one MLflow run and one model (slow: launches real process groups)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import yaml
from mlflow.tracking import MlflowClient

from .tiny import WORDS, tiny_model

BIN = Path(sys.executable).parent
CRASH_SITE = Path(__file__).parent / "crash_site"
TORCHRUN = [str(BIN / "torchrun"), "--nproc_per_node", "2", "--standalone", "--no-python"]
GLOBAL_BATCH = 8
ROWS = 48  # a multiple of the global batch: both launches see exactly the same batches


def _labels(path: Path) -> Path:
    """Rows whose texts are all distinct, so the no-duplicates sampler never defers a row and the per-process
    batches are exactly the halves of the one-process batches."""
    lines = []
    for i in range(ROWS):
        words = [WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(6)]
        lines.append(json.dumps({
            "trajectory_id": f"t{i}", "search_ordinal": 0, "pos_id": f"d{i}", "query": f"{' '.join(words[:3])} q{i}",
            "pos": f"{' '.join(words)} p{i}", "negs": [f"{' '.join(reversed(words))} n{i}"], "neg_ids": [f"n{i}"],
            "satisfied": True, "weight": 0.5 + (i % 4) / 3, "reasoning_len": 10 + i}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ddp")
    model = root / "tiny"
    tiny_model(model)
    params = {"train": {"base_model": str(model), "epochs": 1, "lr": 1e-3, "batch_size": GLOBAL_BATCH,
                        "max_seq_length": 32, "n_negatives": 1, "max_rows": None, "warmup_ratio": 0.0,
                        "save_steps": 2, "experiment": "ddp", "device": "cpu"}}
    (root / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    return {"root": root, "labels": _labels(root / "labels.jsonl"), "params": root / "params.yaml"}


def _train(setup: dict[str, Path], name: str, launcher: list[str], crash_at: int | None = None) -> tuple[str, Path]:
    root = setup["root"]
    store = f"sqlite:///{root / f'{name}.db'}"
    out = root / name / "model"
    env = {**os.environ, "MLFLOW_TRACKING_URI": store, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
           "OMP_NUM_THREADS": "1"}
    if crash_at is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CRASH_SITE), env.get("PYTHONPATH")]))
        env["LRAT_TEST_CRASH_AT_STEP"] = str(crash_at)
    done = subprocess.run([*launcher, "lrat", "train", "--labels", str(setup["labels"]), "--out", str(out),
                           "--params", str(setup["params"]), "--metrics", str(root / name / "train.json"),
                           "--mining-metrics", str(root / "none.json"), "--validation", str(root / "none.json"),
                           "--name", name, "--quiet"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=600)
    if crash_at is not None:
        assert done.returncode != 0 and not out.exists(), done.stderr[-3000:]
        return store, out
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    return store, out


def _losses(store: str, launches: int = 1) -> tuple[list[tuple[int, float]], list]:
    client = MlflowClient(tracking_uri=store)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], order_by=["start_time DESC"])
    assert len(runs) == launches, [r.info.run_name for r in runs]  # a launch is one run, whatever its processes
    history = client.get_metric_history(runs[0].info.run_id, "loss")
    return sorted((m.step, m.value) for m in history), runs


@pytest.fixture(scope="module")
def single(setup: dict[str, Path]) -> tuple[list[tuple[int, float]], Path]:
    """The reference: one process, the same global batch."""
    store, model = _train(setup, "single", [])
    losses, _ = _losses(store)
    assert len(losses) == ROWS // GLOBAL_BATCH  # a loss every step
    assert losses[0][1] != pytest.approx(losses[-1][1], rel=1e-3)  # the curve moves: comparing it means something
    return losses, model


def _same_curve(reference: list[tuple[int, float]], other: list[tuple[int, float]]) -> None:
    assert [s for s, _ in reference] == [s for s, _ in other]
    for (_, a), (_, b) in zip(reference, other, strict=True):
        assert b == pytest.approx(a, rel=1e-4, abs=1e-5)


@pytest.mark.slow
def test_two_torchrun_processes_train_like_one_process_on_the_same_global_batches(setup: dict[str, Path], single):
    reference, one_model = single
    two_store, two_model = _train(setup, "ddp", TORCHRUN)
    double, runs = _losses(two_store)
    _same_curve(reference, double)
    params = runs[0].data.params
    assert params["processes"] == "2" and params["batch_size.per_process"] == str(GLOBAL_BATCH // 2)
    summary = json.loads((setup["root"] / "ddp" / "train.json").read_text())
    assert summary["processes"] == 2 and summary["steps"] == ROWS // GLOBAL_BATCH
    # rank 0 alone wrote the model, and it is the same model the one-process run trained (to float tolerance)
    from sentence_transformers import SentenceTransformer

    texts = ["ferry to the island", "museum founder"]
    a = SentenceTransformer(str(one_model), device="cpu").encode(texts)
    b = SentenceTransformer(str(two_model), device="cpu").encode(texts)
    assert abs(a - b).max() < 1e-3
    mlflow.set_tracking_uri(two_store)
    logged = mlflow.sentence_transformers.load_model(f"runs:/{runs[0].info.run_id}/model")
    assert abs(logged.encode(texts) - b).max() < 1e-6


@pytest.mark.slow
def test_accelerate_launch_runs_the_same_command(setup: dict[str, Path], single):
    # --multi_gpu is accelerate's DDP launcher (torchrun underneath); with train.device cpu the processes use gloo,
    # which is how it runs here. (`--cpu` alone would start one process: accelerate's multi-CPU path is mpirun.)
    store, model = _train(setup, "accelerate", [str(BIN / "accelerate"), "launch", "--multi_gpu", "--num_processes",
                                                "2", "--num_machines", "1", "--mixed_precision", "no",
                                                "--dynamo_backend", "no", "--no_python"])
    losses, runs = _losses(store)
    _same_curve(single[0], losses)
    assert runs[0].data.params["processes"] == "2"
    assert (model / "config_sentence_transformers.json").exists()


@pytest.mark.slow
def test_a_crashed_torchrun_launch_resumes_on_every_rank_from_the_checkpoint(setup: dict[str, Path], single):
    reference, one_model = single
    _train(setup, "resume", TORCHRUN, crash_at=3)  # both processes die after step 3; checkpoint-2 is on disk
    checkpoints = list((setup["root"] / "resume" / ".checkpoints").glob("*/checkpoint-2"))
    assert checkpoints and {"rng_state_0.pth", "rng_state_1.pth"} <= {p.name for p in checkpoints[0].iterdir()}
    store, model = _train(setup, "resume", TORCHRUN)
    losses, runs = _losses(store, launches=2)  # the crashed launch's run stays, unfinished
    assert runs[0].info.status == "FINISHED" and runs[1].info.status == "RUNNING"
    _same_curve(reference[2:], losses)  # steps 3..6 again, from the restored optimizer, scheduler and data order
    summary = json.loads((setup["root"] / "resume" / "train.json").read_text())
    assert summary["resumed"] is True and summary["steps"] == ROWS // GLOBAL_BATCH
    from sentence_transformers import SentenceTransformer

    texts = ["ferry to the island", "museum founder"]
    a = SentenceTransformer(str(one_model), device="cpu").encode(texts)
    assert abs(SentenceTransformer(str(model), device="cpu").encode(texts) - a).max() < 1e-3


def test_the_global_batch_must_split_evenly_over_the_processes():
    from lrat.training.train import per_process_batch

    assert per_process_batch(32, 4) == 8
    with pytest.raises(ValueError, match="multiple of 3"):
        per_process_batch(32, 3)
