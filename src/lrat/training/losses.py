"""The LRAT training loss: InfoNCE with in-batch negatives, each anchor row weighted by its trajectory weight."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.distributed as dist
from sentence_transformers import SentenceTransformer
from sentence_transformers.util import cos_sim, similarity_fct_name
from torch import Tensor, nn


class WeightedInfoNCELoss(nn.Module):
    """L = Σᵢ wᵢℓᵢ / Σᵢ wᵢ with ℓᵢ the InfoNCE of anchor i against every positive and negative in the batch.

    The candidates and their order are those of ``MultipleNegativesRankingLoss`` (positives, then each negative
    column), so with all weights 1 the two losses are equal. Σw normalisation follows the LRAT code (the paper
    writes 1/N): it keeps the loss scale independent of the weights' mean.

    Args:
        model: the SentenceTransformer to train.
        scale: 1 / temperature; LRAT uses τ = 0.02, hence 50.
        similarity_fct: similarity of anchors and candidates; cosine as in the paper.
        eps: floor of Σw, so an all-zero-weight batch gives loss 0 rather than NaN.

    Inputs: columns ``(anchor, positive, negative_1, ..., negative_n)``; labels: one float weight per row (the
    ``label`` column), or None for all ones.

    Under ``torch.distributed`` (world size > 1) the candidates of all processes are gathered with gradients and
    the weights are normalised by the global Σw, so that DDP's averaged gradient equals the gradient of one
    process on the concatenated batch; the weights hold on any number of devices. Local batch sizes may differ
    (an uneven last batch). Every process must call the loss at the same steps, as with any collective.
    """

    def __init__(
        self,
        model: SentenceTransformer,
        scale: float = 50.0,
        similarity_fct: Callable[[Tensor, Tensor], Tensor] = cos_sim,
        eps: float = 1e-12,
    ) -> None:
        super().__init__()
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.model = model
        self.scale = scale
        self.similarity_fct = similarity_fct
        self.eps = eps
        self.cross_entropy = nn.CrossEntropyLoss(reduction="none")

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor | None) -> Tensor:
        embeddings = [self.model(features)["sentence_embedding"] for features in sentence_features]
        return self.compute_loss_from_embeddings(embeddings, labels)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None) -> Tensor:
        if len(embeddings) < 2:
            raise ValueError(f"expected anchor, positive and optional negatives, got {len(embeddings)} column(s)")
        anchors, batch = embeddings[0], embeddings[0].size(0)
        dtype = torch.promote_types(anchors.dtype, torch.float32)  # reduce in ≥ fp32 even when embeddings are bf16
        weights = torch.ones(batch, device=anchors.device) if labels is None else labels.to(anchors.device)
        weights = weights.to(dtype)
        if weights.shape != (batch,):
            raise ValueError(f"labels must hold one weight per row, shape ({batch},), got {tuple(weights.shape)}")
        candidates = torch.cat(embeddings[1:])  # positives first, so anchor i's target is candidate i
        offset, weight_sum = 0, weights.sum()
        world = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        if world > 1:
            # One small collective gives every process's Σw and batch size (no gradient through the normaliser).
            stats = [torch.zeros(2, dtype=torch.float64, device=anchors.device) for _ in range(world)]
            dist.all_gather(stats, torch.stack([weight_sum.detach().double(), weight_sum.new_tensor(batch).double()]))
            sizes = [int(s[1]) for s in stats]
            weight_sum = torch.stack(stats)[:, 0].sum().to(weights.dtype)
            rows = [n * (len(embeddings) - 1) for n in sizes]
            offset = sum(rows[: dist.get_rank()])
            candidates = _GatherWithGrad.apply(candidates, rows)
        scores = self.similarity_fct(anchors, candidates) * self.scale
        per_row = self.cross_entropy(scores, torch.arange(offset, offset + batch, device=anchors.device))
        # Why × world: the gather's backward sums every process's gradient for the candidates back to their owner,
        # and DDP averages the processes' gradients (÷ world). So with loss_p = world · Σ_local wℓ / Σ_global w the
        # averaged gradient is exactly that of one process on the concatenated batch, and the mean of the logged
        # losses is that process's loss. With world = 1 this is plain Σwℓ / Σw and no collective runs.
        return world * (weights * per_row.to(dtype)).sum() / weight_sum.clamp_min(self.eps)

    def get_config_dict(self) -> dict[str, Any]:
        return {"scale": self.scale, "similarity_fct": similarity_fct_name(self.similarity_fct)}

    @property
    def temperature(self) -> float:
        return 1.0 / self.scale

    @property
    def citation(self) -> str:
        return """
@inproceedings{zhou2026lrat,
    title={Learning to Retrieve from Agent Trajectories},
    author={Zhou and Dai and Qu and Pang and Xu and Wen},
    booktitle={Proceedings of the ACM SIGIR Conference on Research and Development in Information Retrieval (SIGIR)},
    year={2026},
    eprint={2604.04949},
    archivePrefix={arXiv},
    url={https://arxiv.org/abs/2604.04949},
}
"""


class _GatherWithGrad(torch.autograd.Function):
    """All-gather of rows (uneven counts allowed); backward sums all processes' gradients into the owner's rows."""

    @staticmethod
    def forward(ctx: Any, local: Tensor, rows: list[int]) -> Tensor:
        rank = dist.get_rank()
        ctx.start, ctx.count = sum(rows[:rank]), rows[rank]
        padded = local.new_zeros((max(rows), *local.shape[1:]))  # all_gather needs equal shapes everywhere
        padded[: local.size(0)] = local
        parts = [torch.empty_like(padded) for _ in rows]
        dist.all_gather(parts, padded)
        return torch.cat([part[:n] for part, n in zip(parts, rows, strict=True)])

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        grad = grad.contiguous()
        dist.all_reduce(grad)
        return grad[ctx.start : ctx.start + ctx.count], None
