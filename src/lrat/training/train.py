"""``lrat train``: fine-tune a bi-encoder on mined labels with the weighted InfoNCE loss, as one MLflow run.

The run records what a reader needs to reproduce or question a number: every setting, the labels' hash, the
pipeline state (dvc.lock output hashes), the git commit, the mining statistics (B, H_raw, counts), the loss per
step, and the model itself (logged with explicit CPU requirements, so loading it elsewhere never pulls CUDA).
Interrupted runs resume from the last checkpoint of the same labels and settings.

Launched by ``torchrun`` or ``accelerate launch`` the same function trains data-parallel: ``train.batch_size`` stays
the global batch (split evenly over the processes), the loss gathers candidates across processes, and only rank 0
talks to MLflow and writes the model folder, so one launch is one run and one model whatever the process count.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lrat.io import file_sha256, write_json
from lrat.settings import Train
from lrat.training.data import to_dataset, training_rows

if TYPE_CHECKING:
    from lrat.retrieval.prompts import Prompts


def process_group() -> tuple[int, int]:
    """(rank, world size) of this process as torchrun / accelerate launch announce them; (0, 1) when run alone."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def per_process_batch(global_batch: int, world: int) -> int:
    if global_batch % world:
        raise ValueError(f"train.batch_size {global_batch} is the global batch and must split evenly over the "
                         f"{world} processes; set a multiple of {world}")
    return global_batch // world


def _use_cpu(device: str) -> bool:
    if device == "cpu":
        return True
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device is 'cuda' but torch sees no CUDA device (a CPU build of torch, or no GPU)")
    return not torch.cuda.is_available()


def column_prompts(row: dict[str, Any], prompts: Prompts) -> dict[str, str] | None:
    """The trainer's prompt per dataset column, as sentence-transformers applies them: the query prompt on the
    anchor, the document prompt on the positive and every negative (None when both are empty: no prompt at all)."""
    if not prompts.query and not prompts.document:
        return None
    mapping = {"anchor": prompts.query}
    mapping |= {key: prompts.document for key in row if key == "positive" or key.startswith("negative_")}
    return {key: value for key, value in mapping.items() if value}


def _loss(model: Any, cfg: Train) -> Any:
    if cfg.loss == "weighted":
        from lrat.training.losses import WeightedInfoNCELoss

        return WeightedInfoNCELoss(model, scale=cfg.scale)
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    return MultipleNegativesRankingLoss(model, scale=cfg.scale)


def pip_requirements() -> list[str]:
    """Pinned, CPU torch: a plain `torch==x` requirement resolves to a multi-GB CUDA build elsewhere."""
    import sentence_transformers
    import torch
    import transformers

    reqs = [f"torch=={torch.__version__}", f"sentence-transformers=={sentence_transformers.__version__}",
            f"transformers=={transformers.__version__}"]
    if "+cpu" in torch.__version__:
        reqs.insert(0, "--extra-index-url https://download.pytorch.org/whl/cpu")
    return reqs


def _callback() -> Any:
    import mlflow
    from transformers import TrainerCallback

    class LogToMlflow(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            values = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, int | float) and k != "epoch"}
            if values:
                mlflow.log_metrics(values, step=state.global_step)

    return LogToMlflow()


def _trainer(model: Any, args: Any, rows: list[dict[str, Any]], cfg: Train, callbacks: list[Any],
             progress: bool) -> Any:
    from sentence_transformers import SentenceTransformerTrainer

    trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=to_dataset(rows),
                                         loss=_loss(model, cfg), callbacks=callbacks)
    if not progress:  # quiet means quiet: no loss dicts on stdout (they would break --json output)
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    return trainer


def _follow(model: Any, args: Any, rows: list[dict[str, Any]], cfg: Train, checkpoints: Path,
            rank: int) -> dict[str, Any]:
    """A non-zero rank: the same steps as rank 0 (its own share of each global batch, its own RNG state in the
    checkpoints), but no MLflow run and no files of its own; rank 0 reports for the launch."""
    trainer = _trainer(model, args, rows, cfg, [], progress=False)
    resume = cfg.resume and any(checkpoints.glob("checkpoint-*"))
    result = trainer.train(resume_from_checkpoint=True if resume else None)
    return {"rank": rank, "steps": int(result.global_step), "resumed": bool(resume)}


def _save(model: Any, out: Path) -> None:
    """Write the model folder beside ``out`` and swap it in, so a reader never sees half a model."""
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save(str(tmp), create_model_card=False)  # a model card asks the Hub about the base model
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)


def train(labels: Path, out: Path, cfg: Train, *, name: str = "lrat", mining_metrics: Path | None = None,
          metrics_out: Path | None = None, tags: dict[str, str] | None = None, progress: bool = True,
          validation: Path | None = None, corpus: Path | None = None) -> dict[str, Any]:
    rank, world = process_group()
    main = rank == 0
    batch = per_process_batch(cfg.batch_size, world)
    rows, counts = training_rows(labels, cfg, corpus=corpus)
    if world > 1 and len(rows) % cfg.batch_size:
        # Every process must take the same number of steps (the loss and DDP run collectives each step), so the
        # rows that do not fill a last global batch are left out, and counted.
        counts["uneven_tail"] = len(rows) % cfg.batch_size
        rows = rows[: len(rows) - counts["uneven_tail"]]
        counts["rows"] = len(rows)
        if not rows:
            raise ValueError(f"{labels}: fewer rows ({counts['uneven_tail']}) than one global batch "
                             f"(train.batch_size {cfg.batch_size})")
    labels_hash = file_sha256(labels)
    key = hashlib.sha256(json.dumps([labels_hash, cfg.model_dump(mode="json")], sort_keys=True).encode()).hexdigest()
    checkpoints = out.parent / ".checkpoints" / f"{name}-{key[:12]}"

    import mlflow
    import mlflow.sentence_transformers
    from sentence_transformers.sentence_transformer.training_args import (
        BatchSamplers,
        SentenceTransformerTrainingArguments,
    )

    from lrat.retrieval.encoder import load_model
    from lrat.retrieval.prompts import effective_prompts, save_prompts
    from lrat.tracking import dvc_lock_hashes, flat, git_commit, use_experiment
    from lrat.validation.status import validation_status

    model = load_model(cfg.base_model)
    model.max_seq_length = cfg.max_seq_length
    prompts = effective_prompts(model, cfg.encoding)
    save_prompts(model, prompts)  # the model folder, the logged model and everything built from them carry them
    steps = math.ceil(len(rows) / cfg.batch_size * cfg.epochs)
    args = SentenceTransformerTrainingArguments(
        output_dir=str(checkpoints), num_train_epochs=cfg.epochs, per_device_train_batch_size=batch,
        learning_rate=cfg.lr, warmup_steps=math.ceil(steps * cfg.warmup_ratio), seed=cfg.seed,
        batch_sampler=BatchSamplers.NO_DUPLICATES, use_cpu=_use_cpu(cfg.device), report_to="none",
        save_strategy="steps", save_steps=cfg.save_steps, save_total_limit=1,
        logging_steps=max(1, min(10, steps // 10)), disable_tqdm=not progress, dataloader_pin_memory=False,
        bf16=cfg.precision == "bf16", dataloader_drop_last=world > 1, prompts=column_prompts(rows[0], prompts),
    )
    start = time.perf_counter()
    if not main:
        return _follow(model, args, rows, cfg, checkpoints, rank)
    use_experiment(cfg.experiment)
    status, verdict = validation_status(validation, labels_hash)
    with mlflow.start_run(run_name=name, tags={**(tags or {}), "validation.status": status}) as run:
        mlflow.log_params({k: str(v)[:500] for k, v in flat("", cfg.model_dump()).items()})
        mlflow.log_params({"labels.path": str(labels), "labels.sha256": labels_hash,
                           "git.commit": git_commit() or "unknown", "rows.used": counts["rows"],
                           "processes": world, "batch_size.per_process": batch,
                           "prompts.query": prompts.query[:500], "prompts.document": prompts.document[:500]})
        lineage = dvc_lock_hashes()
        if lineage:
            mlflow.log_dict(lineage, "lineage/dvc_lock_outs.json")
        if verdict is not None:
            mlflow.log_dict(verdict, "lineage/validation.json")
        mlflow.log_metrics({f"rows.{k}": float(v) for k, v in counts.items()})
        if mining_metrics is not None and mining_metrics.exists():
            stats = json.loads(mining_metrics.read_text(encoding="utf-8"))
            mlflow.log_dict(stats, "lineage/mining.json")
            mlflow.log_metrics({f"mining.{k}": float(v) for k, v in flat("", {
                "rows": stats.get("rows"), "satisfied_ratio": stats.get("satisfied_ratio"),
                "evidence_retention": stats.get("evidence_retention"), "groups": stats.get("groups")}).items()
                if isinstance(v, int | float)})
        trainer = _trainer(model, args, rows, cfg, [_callback()], progress)
        resume = cfg.resume and any(checkpoints.glob("checkpoint-*"))
        result = trainer.train(resume_from_checkpoint=True if resume else None)
        _save(model, out)
        mlflow.sentence_transformers.log_model(model, name="model", pip_requirements=pip_requirements(),
                                               create_model_card=False)
        summary = {"name": name, "run_id": run.info.run_id, "experiment": cfg.experiment, "model": str(out),
                   "rows": counts, "steps": int(result.global_step), "train_loss": round(float(result.training_loss),
                                                                                          5),
                   "resumed": bool(resume), "seconds": round(time.perf_counter() - start, 1),
                   "labels_sha256": labels_hash, "validation": status, "processes": world}
        mlflow.log_metric("train_seconds", summary["seconds"])
    shutil.rmtree(checkpoints, ignore_errors=True)
    write_json(out / "lrat_train.json", summary)
    if metrics_out is not None:
        write_json(metrics_out, summary)
    return summary
