"""WeightedInfoNCELoss: equal to MNRL at unit weights, the LRAT Σwℓ/Σw rule otherwise, exact across processes."""

from __future__ import annotations

import math
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Dataset
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.base.sampler import BatchSamplers
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
from torch import Tensor

from lrat.training.losses import WeightedInfoNCELoss
from tests.training import dist_worker
from tests.training.tiny import WORDS, tiny_model

ROWS = 8
COLUMNS = ("anchor", "positive", "negative_1", "negative_2")


def _texts(seed: int, rows: int = ROWS) -> dict[str, list[str]]:
    rng = np.random.default_rng(seed)
    return {column: [f"{column} {i} " + " ".join(rng.choice(WORDS, size=int(rng.integers(3, 12))))
                     for i in range(rows)] for column in COLUMNS}


TEXTS = _texts(0)
WEIGHTS = torch.tensor([0.4, 2.5, 1.0, 0.05, 1.7, 0.9, 3.0, 0.3])


@pytest.fixture(scope="module")
def model() -> SentenceTransformer:
    return tiny_model().double()  # float64: equalities are then exact to ~1e-12, not blurred by fp32 round-off


def _features(model: SentenceTransformer, rows: slice = slice(None)) -> list[dict[str, Tensor]]:
    return [model.preprocess(TEXTS[column][rows]) for column in COLUMNS]


def _run(model: SentenceTransformer, loss_fn: torch.nn.Module, labels: Tensor | None) -> tuple[Tensor, dict]:
    """The loss and the gradient of every parameter, from fresh features and zeroed gradients."""
    model.zero_grad(set_to_none=True)
    loss = loss_fn(_features(model), labels)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def _assert_same(a: tuple[Tensor, dict], b: tuple[Tensor, dict], **tol: float) -> None:
    torch.testing.assert_close(a[0], b[0], **tol)
    assert a[1].keys() == b[1].keys() and a[1]
    for name in a[1]:
        torch.testing.assert_close(a[1][name], b[1][name], **tol, msg=lambda m, name=name: f"{name}: {m}")


def test_unit_weights_equal_mnrl(model: SentenceTransformer) -> None:
    mnrl = _run(model, MultipleNegativesRankingLoss(model, scale=50.0), None)
    _assert_same(_run(model, WeightedInfoNCELoss(model), torch.ones(ROWS)), mnrl)
    # ... and the weights do matter, so the equality above is not vacuous.
    assert not torch.isclose(_run(model, WeightedInfoNCELoss(model), WEIGHTS)[0], mnrl[0])


def test_labels_none_is_all_ones(model: SentenceTransformer) -> None:
    loss_fn = WeightedInfoNCELoss(model)
    _assert_same(_run(model, loss_fn, None), _run(model, loss_fn, torch.ones(ROWS)))


def test_scaling_the_weights_changes_nothing(model: SentenceTransformer) -> None:
    loss_fn = WeightedInfoNCELoss(model)
    _assert_same(_run(model, loss_fn, WEIGHTS * 3.7), _run(model, loss_fn, WEIGHTS))


def test_matches_a_plain_reference(model: SentenceTransformer) -> None:
    weights = torch.rand(ROWS, generator=torch.Generator().manual_seed(1)) * 3
    with torch.no_grad():
        emb = [model(f)["sentence_embedding"].double().numpy() for f in _features(model)]
        loss = WeightedInfoNCELoss(model)(_features(model), weights).item()
    anchors, candidates = emb[0], np.concatenate(emb[1:])  # positives first, then negative_1, negative_2
    numerator = 0.0
    for i, anchor in enumerate(anchors):
        logits = [50.0 * anchor @ c / (np.linalg.norm(anchor) * np.linalg.norm(c)) for c in candidates]
        log_z = max(logits) + math.log(sum(math.exp(x - max(logits)) for x in logits))
        numerator += float(weights[i]) * (log_z - logits[i])
    assert loss == pytest.approx(numerator / sum(float(w) for w in weights), rel=1e-10)


def test_zero_weight_drops_the_anchor_but_keeps_the_candidate(model: SentenceTransformer) -> None:
    dropped = 3
    weights = WEIGHTS.clone()
    weights[dropped] = 0.0
    keep = torch.tensor([i for i in range(ROWS) if i != dropped])

    def without_anchor(features: list[dict[str, Tensor]], labels: Tensor) -> Tensor:
        emb = [model(f)["sentence_embedding"] for f in features]
        candidates = torch.cat(emb[1:])  # row `dropped` still competes as a candidate of every other anchor
        scores = torch.nn.functional.cosine_similarity(emb[0][keep, None], candidates[None], dim=-1) * 50.0
        per_row = torch.nn.functional.cross_entropy(scores, keep, reduction="none")
        return (labels[keep] * per_row).sum() / labels[keep].sum()

    _assert_same(_run(model, WeightedInfoNCELoss(model), weights), _run(model, without_anchor, weights))


def test_validation_config_and_citation(model: SentenceTransformer) -> None:
    with pytest.raises(ValueError, match="scale"):
        WeightedInfoNCELoss(model, scale=0.0)
    with pytest.raises(ValueError, match="one weight per row"):
        WeightedInfoNCELoss(model)(_features(model), torch.ones(ROWS, 2))
    with pytest.raises(ValueError, match="column"):
        WeightedInfoNCELoss(model)(_features(model)[:1], None)
    loss_fn = WeightedInfoNCELoss(model)
    assert loss_fn.get_config_dict() == {"scale": 50.0, "similarity_fct": "cos_sim"}
    assert loss_fn.temperature == pytest.approx(0.02)
    assert "2604.04949" in loss_fn.citation and "SIGIR" in loss_fn.citation
    zero = _run(model, loss_fn, torch.zeros(ROWS))
    assert zero[0] == 0.0 and all(not g.any() for g in zero[1].values())  # Σw = 0: no NaN, no update


def test_two_gloo_processes_match_one_process_on_the_whole_batch(model: SentenceTransformer, tmp_path: Path) -> None:
    """DDP-style: each process holds part of the batch; averaged gradients equal one process on all 8 rows."""
    splits = [[4, 4], [5, 3]]  # the equal split DDP gives, and an uneven last batch
    columns = [TEXTS[c] for c in COLUMNS]
    context = multiprocessing.get_context("fork")
    procs = [context.Process(target=dist_worker.run, args=(model, columns, WEIGHTS, splits, rank, 2,
                                                           tmp_path / "init", tmp_path / f"out{rank}.pt"))
             for rank in range(2)]
    for proc in procs:
        proc.start()
    try:
        for proc in procs:
            proc.join(timeout=90)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join()
    assert [proc.exitcode for proc in procs] == [0, 0]

    single = _run(model, WeightedInfoNCELoss(model), WEIGHTS)
    assert not torch.isclose(single[0], _run(model, WeightedInfoNCELoss(model), None)[0])  # the weights count
    for rank in range(2):
        for result in torch.load(tmp_path / f"out{rank}.pt"):
            grads = {name: result["grads"][name] for name in single[1]}
            _assert_same((result["loss"], grads), single)


def test_trainer_runs_with_a_weight_label_column(tmp_path: Path) -> None:
    model = tiny_model()
    seen: list[Tensor] = []

    class Recording(WeightedInfoNCELoss):
        def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
            seen.append(labels)
            return super().compute_loss_from_embeddings(embeddings, labels)

    data = _texts(1)
    dataset = Dataset.from_dict({"anchor": data["anchor"], "positive": data["positive"],
                                 "negative_1": data["negative_1"], "label": WEIGHTS.tolist()})
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=2, logging_steps=1, learning_rate=1e-3,
        batch_sampler=BatchSamplers.NO_DUPLICATES, use_cpu=True, report_to="none", save_strategy="no", seed=0)
    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset, loss=Recording(model))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    trainer.train()

    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 2 and all(math.isfinite(x) and x > 0 for x in losses)
    assert sorted(torch.cat(seen).tolist()) == pytest.approx(sorted(WEIGHTS.tolist()))  # every row's weight arrived
    assert any(not torch.equal(before[n], p) for n, p in model.named_parameters())
