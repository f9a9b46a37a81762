"""Simulated-agent throughput with the in-process retriever, against plain ``SentenceTransformer.encode``.

    .venv/bin/python benches/bench_simulate.py                  # the world `make run` built (data/world)
    .venv/bin/python benches/bench_simulate.py --limit 300      # a quick look

Three runs over the same questions and seed, each from a fresh retriever (corpus vectors already on disk):
  cold      no query vector cached: every distinct query is encoded during the run;
  pipeline  the questions' vectors cached, as after the `world` stage (it encodes every question for recall);
  warm      every query vector cached: what the simulator itself costs.
The baseline is `SentenceTransformer.encode` of exactly the distinct queries the cold run encoded, in one call:
the floor any run that must embed those queries cannot go under.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from lrat.retrieval.encoder import BASE, corpus_embeddings, fingerprint, load_model
from lrat.retrieval.local import LocalRetriever, read_corpus
from lrat.simulate.driver import simulate
from lrat.simulate.pipeline import agent_config
from lrat.simulate.store import load_world


class TimedRetriever(LocalRetriever):
    """Counts what the run encodes, so the report can split the run's time into encoding and the rest."""

    def encode_queries(self, queries):  # type: ignore[no-untyped-def]
        todo = {q for q in queries if q not in self._cache}
        start = time.perf_counter()
        vectors = super().encode_queries(queries)
        self.encode_seconds += time.perf_counter() - start
        self.encoded.update(todo)
        return vectors


def _retriever(model, docids, texts, vectors, cached: dict) -> TimedRetriever:  # type: ignore[no-untyped-def]
    engine = TimedRetriever(model, docids, texts, vectors, name=BASE)
    engine._cache.update(cached)
    engine.encode_seconds, engine.encoded = 0.0, set()
    return engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", type=Path, default=Path("data/world"), help="a folder from `lrat simulate world`")
    parser.add_argument("--split", default="train")
    parser.add_argument("--limit", type=int, default=0, help="first N questions of the split (0 = all)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/embeddings"), help="corpus vectors")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    import yaml

    cfg = agent_config(yaml.safe_load(Path("params.yaml").read_text())["agent"])
    world = load_world(args.world)
    questions = [q for q in world.questions if q.split == args.split][: args.limit or None]
    model = load_model(BASE)
    docids, texts = read_corpus(args.world / "corpus.jsonl")
    vectors = corpus_embeddings(model, texts, args.cache_dir, model_key=fingerprint(model))

    rows: list[dict] = []
    all_vectors: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("cold", "pipeline", "warm"):
            if mode == "cold":
                cached: dict = {}
            elif mode == "pipeline":
                cached = {q.text: all_vectors[q.text] for q in questions if q.text in all_vectors}
            else:
                cached = all_vectors
            engine = _retriever(model, docids, texts, vectors, cached)
            start = time.perf_counter()
            summary = simulate(world, questions, engine, cfg, args.seed, Path(tmp) / mode)
            seconds = time.perf_counter() - start
            if mode == "cold":
                all_vectors = dict(engine._cache)
                distinct = sorted(engine.encoded)
            rows.append({"mode": mode, "trajectories": summary["trajectories"], "seconds": round(seconds, 2),
                         "traj_per_s": round(summary["trajectories"] / seconds, 1),
                         "queries_encoded": len(engine.encoded), "encode_seconds": round(engine.encode_seconds, 2)})
        start = time.perf_counter()
        model.encode(distinct, batch_size=engine.batch_size, normalize_embeddings=True)
        baseline = time.perf_counter() - start
    rows.append({"mode": "baseline: SentenceTransformer.encode", "queries_encoded": len(distinct),
                 "encode_seconds": round(baseline, 2), "queries_per_s": round(len(distinct) / baseline, 1)})
    for row in rows:
        print("  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    cold = rows[0]
    print(f"cold run: {cold['encode_seconds']} s of {cold['seconds']} s spent encoding; plain encode of the same "
          f"{len(distinct)} queries: {baseline:.2f} s (ratio {cold['encode_seconds'] / baseline:.2f})")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
