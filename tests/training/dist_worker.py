"""One process of the multi-process WeightedInfoNCELoss test, started (forked) by test_losses.py.

Forked rather than spawned: the child inherits the imported libraries and the model, so it starts in well under a
second instead of re-importing sentence-transformers (about 10 s here).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
from sentence_transformers import SentenceTransformer

from lrat.training.losses import WeightedInfoNCELoss


def run(model: SentenceTransformer, columns: list[list[str]], weights: torch.Tensor, splits: list[list[int]],
        rank: int, world: int, init_file: Path, out: Path) -> None:
    """For each split (rows per process) take this process's rows, compute the loss and its backward, average the
    gradients over processes as DDP does (all-reduce sum, then ÷ world) and save them with the mean loss."""
    torch.set_num_threads(1)  # OpenMP pools are not fork-safe; one thread avoids them
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=60))
    try:
        loss_fn = WeightedInfoNCELoss(model)
        results = []
        for split in splits:
            start = sum(split[:rank])
            rows = slice(start, start + split[rank])
            model.zero_grad(set_to_none=True)
            loss = loss_fn([model.preprocess(column[rows]) for column in columns], weights[rows])
            loss.backward()
            grads = {}
            for name, param in model.named_parameters():
                grad = torch.zeros_like(param) if param.grad is None else param.grad.clone()
                dist.all_reduce(grad)
                grads[name] = grad / world
            total = loss.detach().clone()
            dist.all_reduce(total)
            results.append({"loss": total / world, "grads": grads})
        torch.save(results, out)
    finally:
        dist.destroy_process_group()
