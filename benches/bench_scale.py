"""How world generation, corpus encoding and the FAISS indexes of `lrat index` scale with the corpus.

    .venv/bin/python benches/bench_scale.py                                   # 4k, 20k, 100k documents
    .venv/bin/python benches/bench_scale.py --sizes 4000 20000 --queries 200  # a quicker look

Per size:
  world      the `world` stage's own function (`lrat.simulate.pipeline.build_world`: generate, write the files,
             save the state) with n_docs = size and n_questions in the proportion of params.yaml `world:`
             (1,200 / 4,000), without its base-retriever encoding; each size in a fresh process, so its peak RSS
             is its own.
  encode     the packaged MiniLM (`base`) through the project's one encoding path (`corpus_embeddings`, no cache):
             the whole smallest corpus (measured docs/s) and --queries of its questions; for larger worlds a
             random sample of --encode-sample of their documents (to check that docs/s holds: the pages are as
             long), and the time for each whole corpus **extrapolated** from the measured docs/s. With
             --cache-dir the smallest corpus's vectors come from the project's embedding cache and its docs/s
             from --encode-sample of its documents too.
  vectors    4k: the real MiniLM vectors of the 4k corpus. Larger sizes: synthetic 384-d vectors from a
             clustered Gaussian fitted to the real 4k vectors (k-means into --clusters cells; a vector is its
             cell's mean plus Gaussian noise with the pooled within-cell covariance, then L2-normalised). The
             row `4,000 (synthetic)` checks the synthetic structure against the real one on the same size.
  indexes    `lrat.serving.index.make_index` with params.yaml `index:` (defaults: HNSW M 32, efConstruction 200,
             efSearch 128; IVF 4·sqrt(n) cells, nprobe 16) for flat (exact IndexFlatIP), hnsw and ivf: build
             seconds (--build-threads faiss threads), serialized bytes, RSS growth over the build (after gc +
             malloc_trim; approximate), search latency with --search-threads faiss threads and k = 10 (one
             query at a time, p50/p95; and batches of 64, mean per query), and recall@10 against exact search
             for two query sets: the real 4k questions' MiniLM vectors (question-like queries) and held-out
             draws of the synthetic generator that are not in the index (document-like queries; they sit in
             dense cells and are the easier set). The same HNSW / IVF index is then searched again with
             other efSearch (--ef-search) and nprobe (--nprobe) values: recall against latency.
Machine load matters on shared cores: the load average is recorded at the start, around every build and at the
end. Results: a markdown table on stdout and everything in --out (benches/results/scale.json).
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

K = 10
BATCH = 64
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE / 2**20


def trim() -> None:
    """Collect garbage and hand freed heap back to the OS, so that RSS growth measures what an index holds."""
    import ctypes

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# --- world generation, one fresh process per size ---------------------------------------------------------------

def world_job(size: int, n_questions: int, seed: int, section: Any, sample: int | None,
              ) -> dict[str, Any]:
    """Run the `world` stage's function without encoding; return its cost and the texts the bench needs
    (all of them when ``sample`` is None, else a seeded sample of the documents)."""
    from lrat.retrieval.local import read_corpus
    from lrat.simulate.pipeline import build_world

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "world"
        started = time.perf_counter()
        stats = build_world(out, seed, section.model_copy(update={"n_docs": size, "n_questions": n_questions}),
                            metrics=None, cache_dir=None, retriever="", progress=False)
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        corpus_bytes = (out / "corpus.jsonl").stat().st_size
        world_bytes = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
        _, texts = read_corpus(out / "corpus.jsonl")
        questions = [line.split("\t", 1)[1].rstrip("\n") for line in
                     (out / "queries.tsv").read_text(encoding="utf-8").splitlines() if "\t" in line]
    chars = [len(t) for t in texts]
    result = {
        "n_docs": stats["documents"], "n_questions": stats["questions"], "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak, 1), "rss_before_mb": round(base_rss, 1),
        "corpus_mb": round(corpus_bytes / 2**20, 1), "world_files_mb": round(world_bytes / 2**20, 1),
        "doc_chars_mean": round(statistics.mean(chars), 1), "doc_words_mean": stats["document_words"]["mean"],
    }
    if sample is None:
        result["texts"], result["questions"] = texts, questions
    else:
        result["texts"] = random.Random(seed).sample(texts, min(sample, len(texts)))
    return result


# --- synthetic vectors ---------------------------------------------------------------------------------------------

class ClusteredGaussian:
    """k-means cells of the real vectors; a draw is a cell mean (cells chosen by their share of the real vectors)
    plus Gaussian noise with the pooled within-cell covariance, L2-normalised."""

    def __init__(self, real: np.ndarray, clusters: int, seed: int) -> None:
        import faiss

        n, dim = real.shape
        kmeans = faiss.Kmeans(dim, clusters, niter=20, seed=seed, spherical=True, verbose=False)
        kmeans.train(real)
        _, assign = kmeans.index.search(real, 1)
        assign = assign.ravel()
        counts = np.bincount(assign, minlength=clusters)
        keep = counts > 0
        means = np.zeros((clusters, dim), dtype=np.float64)
        np.add.at(means, assign, real.astype(np.float64))
        means[keep] /= counts[keep, None]
        residual = real.astype(np.float64) - means[assign]
        cov = residual.T @ residual / max(1, n - int(keep.sum()))
        self.chol = np.linalg.cholesky(cov + 1e-8 * np.eye(dim))
        self.means, self.weights = means[keep], counts[keep] / n
        self.noise_share = float(np.trace(cov) / np.mean(np.sum(real.astype(np.float64) ** 2, axis=1)))

    def sample(self, n: int, rng: np.random.Generator, chunk: int = 20_000) -> np.ndarray:
        out = np.empty((n, self.means.shape[1]), dtype=np.float32)
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            cells = rng.choice(len(self.means), size=m, p=self.weights)
            x = self.means[cells] + rng.standard_normal((m, self.means.shape[1])) @ self.chol.T
            out[start:start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out


# --- indexes -------------------------------------------------------------------------------------------------------

def search_latency(index: Any, queries: np.ndarray) -> dict[str, float]:
    index.search(queries[:BATCH], K)  # warm-up
    singles = []
    for i in range(len(queries)):
        started = time.perf_counter()
        index.search(queries[i:i + 1], K)
        singles.append((time.perf_counter() - started) * 1000)
    started = time.perf_counter()
    for i in range(0, len(queries), BATCH):
        index.search(queries[i:i + BATCH], K)
    batch_ms = (time.perf_counter() - started) * 1000 / len(queries)
    return {"single_p50_ms": round(percentile(singles, 0.5), 3), "single_p95_ms": round(percentile(singles, 0.95), 3),
            "batch64_ms_per_query": round(batch_ms, 3)}


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return round(float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)])), 4)


def bench_indexes(vectors: np.ndarray, query_sets: dict[str, np.ndarray], settings: dict[str, Any],
                  kinds: list[str], build_threads: int, search_threads: int, ef_search: list[int],
                  nprobe: list[int]) -> list[dict[str, Any]]:
    import faiss

    from lrat.serving.index import make_index, set_search_params
    from lrat.serving.settings import IndexSettings

    rows, truth = [], {}
    for kind in kinds:
        faiss.omp_set_num_threads(build_threads)
        trim()
        before, load_before = rss_mb(), load()
        started = time.perf_counter()
        index = make_index(vectors, IndexSettings(**{**settings, "type": kind}))
        build = time.perf_counter() - started
        grown = rss_mb() - before
        size = int(faiss.serialize_index(index).nbytes)
        faiss.omp_set_num_threads(search_threads)
        row: dict[str, Any] = {
            "index": kind, "faiss": type(index).__name__, "build_s": round(build, 2),
            "serialized_mb": round(size / 2**20, 2), "serialized_bytes_per_doc": round(size / len(vectors), 1),
            "rss_growth_mb": round(grown, 1), "load_during_build": [load_before, load()],
            "params": IndexSettings(**{**settings, "type": kind}).search_params(),
        }
        if kind == "ivf":
            row["nlist"] = int(index.nlist)
        row.update(search_latency(index, query_sets["real_questions"]))
        for name, queries in query_sets.items():
            scores, found = index.search(queries, K)
            if kind == "flat":
                truth[name] = found
                row[f"top1_cos_{name}"] = round(float(scores[:, 0].mean()), 4)
                row[f"top10_cos_{name}"] = round(float(scores[:, -1].mean()), 4)
            row[f"recall@10_{name}"] = recall(found, truth[name])
        sweep = {"hnsw": ("ef_search", ef_search), "ivf": ("nprobe", nprobe)}.get(kind)
        if sweep:
            row["sweep"] = []
            for value in sweep[1]:
                set_search_params(index, {sweep[0]: value})
                point = {sweep[0]: value, **search_latency(index, query_sets["real_questions"])}
                for name, queries in query_sets.items():
                    point[f"recall@10_{name}"] = recall(index.search(queries, K)[1], truth[name])
                row["sweep"].append(point)
            set_search_params(index, row["params"])
        rows.append(row)
        print(f"    {kind:5s} build {build:7.2f} s  {size / 2**20:8.1f} MB  p50 {row['single_p50_ms']:.3f} ms  "
              f"recall {row['recall@10_real_questions']:.3f} / {row['recall@10_held_out_synthetic']:.3f}  "
              f"load {load()[0]}", flush=True)
        del index
    return rows


# --- report --------------------------------------------------------------------------------------------------------

def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def markdown(result: dict[str, Any]) -> str:
    lines = ["| documents | questions | world stage s (no encoding) | world files MB | peak RSS MB | chars/doc | "
             "encode docs/s (measured on) | encode corpus, 2 CPU cores |",
             "|---|---|---|---|---|---|---|---|"]
    enc = result["encode"]
    for w in result["worlds"]:
        sample = w.get("encode_sample")
        measured = (f"{sample['docs_per_s']:.1f} ({sample['n']} sampled docs)" if sample
                    else f"{enc['docs_per_s']:.1f} ({enc['docs']:,} docs)")
        whole = w["n_docs"] / enc["docs_per_s"]
        label = (f"{whole:,.0f} s (measured)" if w["n_docs"] == enc["docs"]
                 else f"~{duration(whole)} (extrapolated)")
        lines.append(f"| {w['n_docs']:,} | {w['n_questions']:,} | {w['seconds']:.2f} | {w['world_files_mb']:.1f} | "
                     f"{w['peak_rss_mb']:.0f} | {w['doc_chars_mean']:.0f} | {measured} | {label} |")
    lines += ["", "| documents | vectors | index | build s | serialized MB | bytes/doc | RSS growth MB | "
              "1 query p50 / p95 ms | batch-64 ms/query | recall@10 real questions | recall@10 held-out synthetic |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in result["sizes"]:
        for r in s["indexes"]:
            lines.append(
                f"| {s['n_docs']:,} | {s['vectors']} | {r['index']} | {r['build_s']:.2f} | {r['serialized_mb']:.1f} | "
                f"{r['serialized_bytes_per_doc']:.0f} | {r['rss_growth_mb']:.0f} | "
                f"{r['single_p50_ms']:.3f} / {r['single_p95_ms']:.3f} | {r['batch64_ms_per_query']:.3f} | "
                f"{r['recall@10_real_questions']:.3f} | {r['recall@10_held_out_synthetic']:.3f} |")
    swept = [(s, r) for s in result["sizes"] for r in s["indexes"] if r.get("sweep")]
    if swept:
        lines += ["", "| documents | vectors | index | search setting | 1 query p50 / p95 ms | "
                  "recall@10 real questions | recall@10 held-out synthetic |", "|---|---|---|---|---|---|---|"]
    for s, r in swept:
        name = "ef_search" if r["index"] == "hnsw" else "nprobe"
        default = {**r, name: r["params"][name]}
        for point in sorted([default, *r["sweep"]], key=lambda p: p[name]):
            mark = " (default)" if point is default else ""
            lines.append(f"| {s['n_docs']:,} | {s['vectors']} | {r['index']} | {name} {point[name]}{mark} | "
                         f"{point['single_p50_ms']:.3f} / {point['single_p95_ms']:.3f} | "
                         f"{point['recall@10_real_questions']:.3f} | {point['recall@10_held_out_synthetic']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 20000, 100000])
    parser.add_argument("--queries", type=int, default=500, help="queries per query set (latency and recall)")
    parser.add_argument("--encode-sample", type=int, default=128,
                        help="documents encoded from each larger world to check the docs/s")
    parser.add_argument("--clusters", type=int, default=64, help="k-means cells of the synthetic generator")
    parser.add_argument("--index", nargs="+", default=["flat", "hnsw", "ivf"], choices=["flat", "hnsw", "ivf"])
    parser.add_argument("--ef-search", type=int, nargs="*", default=[64, 256, 512, 1024],
                        help="more HNSW efSearch values to search the same index with (searches only)")
    parser.add_argument("--nprobe", type=int, nargs="*", default=[8, 32, 64],
                        help="more IVF nprobe values to search the same index with (searches only)")
    parser.add_argument("--build-threads", type=int, default=2, help="faiss threads while building")
    parser.add_argument("--search-threads", type=int, default=1, help="faiss threads while searching")
    parser.add_argument("--no-synthetic-check", action="store_true",
                        help="skip the synthetic index of the smallest size (the check of the generator)")
    parser.add_argument("--cache-dir", type=Path,
                        help="take the smallest world's vectors from this embedding cache (e.g. .cache/embeddings) "
                             "and measure docs/s on --encode-sample of its documents instead of all of them")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", "--json", type=Path, default=Path("benches/results/scale.json"))
    args = parser.parse_args()
    if "flat" not in args.index:
        args.index.insert(0, "flat")  # the exact reference of every recall
    sizes = sorted(set(args.sizes))

    from lrat import _offline

    _offline.apply_offline_defaults()
    from lrat.settings import load_settings

    params = load_settings(args.params)
    seed = params.seed
    world_section = params.world
    ratio = world_section.n_questions / world_section.n_docs
    index_section = params.index.model_dump(exclude={"type"})
    started_all = time.perf_counter()
    result: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]), "cpus": os.cpu_count(),
        "load_average_start": load(), "seed": seed, "k": K, "queries": args.queries,
        "build_threads": args.build_threads, "search_threads": args.search_threads,
        "index_params": index_section, "questions_per_doc": ratio, "worlds": [], "sizes": [],
    }

    # 1. the world stage at every size, each in a fresh process
    print(f"load {load()} on {os.cpu_count()} CPUs", flush=True)
    spawn = multiprocessing.get_context("spawn")
    texts: list[str] = []
    questions: list[str] = []
    for size in sizes:
        with spawn.Pool(1) as pool:
            w = pool.apply(world_job, (size, round(size * ratio), seed, world_section,
                                       None if size == sizes[0] else args.encode_sample))
        if size == sizes[0]:
            texts, questions = w.pop("texts"), w.pop("questions")
        else:
            w["sample_texts"] = w.pop("texts")
        result["worlds"].append(w)
        print(f"world {size:>7,}: {w['seconds']:.2f} s, peak RSS {w['peak_rss_mb']:.0f} MB, "
              f"{w['world_files_mb']:.1f} MB of files", flush=True)

    # 2. encoding with the packaged MiniLM through the project's path
    import faiss
    import torch

    from lrat.retrieval.encoder import BASE, corpus_embeddings, encode, load_model

    faiss.omp_set_num_threads(args.build_threads)
    started = time.perf_counter()
    model = load_model(BASE)
    model_load = time.perf_counter() - started
    encode(model, texts[:64])  # warm-up: first-call costs
    load_before = load()
    if args.cache_dir is None:
        started = time.perf_counter()
        real = corpus_embeddings(model, texts, None, progress=False)
        encode_s, encoded = time.perf_counter() - started, len(texts)
    else:  # vectors from the project's cache (encoded there if missing); docs/s from a sample
        real = corpus_embeddings(model, texts, args.cache_dir, progress=False)
        sample = random.Random(seed).sample(texts, min(args.encode_sample, len(texts)))
        started = time.perf_counter()
        corpus_embeddings(model, sample, None, progress=False)
        encode_s, encoded = time.perf_counter() - started, len(sample)
    order = list(range(len(questions)))
    random.Random(seed).shuffle(order)
    chosen = [questions[i] for i in order[:args.queries]]
    started = time.perf_counter()
    question_vectors = encode(model, chosen)
    query_s = time.perf_counter() - started
    rate = encoded / encode_s
    result["encode"] = {
        "model": "base (packaged all-MiniLM-L6-v2)", "torch_threads": torch.get_num_threads(),
        "model_load_s": round(model_load, 2), "docs": encoded, "seconds": round(encode_s, 2),
        "docs_per_s": round(rate, 1), "questions": len(chosen), "questions_per_s": round(len(chosen) / query_s, 1),
        "load_during": [load_before, load()], "dim": int(real.shape[1]),
    }
    print(f"encode {encoded:,} docs: {encode_s:.1f} s = {rate:.1f} docs/s; {len(chosen)} questions "
          f"{len(chosen) / query_s:.1f}/s (torch threads {torch.get_num_threads()}, load {load()[0]})", flush=True)
    for w in result["worlds"]:
        w["encode_corpus_s"] = round(w["n_docs"] / rate, 1)
        w["encode_corpus_s_is"] = ("measured" if w["n_docs"] == encoded
                                   else f"extrapolated from {encoded:,} docs of the {len(texts):,} world")
        sample = w.pop("sample_texts", None)
        if sample:
            started = time.perf_counter()
            corpus_embeddings(model, sample, None, progress=False)
            w["encode_sample"] = {"n": len(sample), "docs_per_s": round(len(sample) / (time.perf_counter() - started),
                                                                        1)}
            print(f"encode sample of world {w['n_docs']:,}: {w['encode_sample']['docs_per_s']:.1f} docs/s "
                  f"-> whole corpus ~{duration(w['n_docs'] / rate)} (extrapolated)", flush=True)
    del model
    gc.collect()

    # 3. indexes: real vectors at the smallest size, synthetic ones (fitted to them) above it
    generator = ClusteredGaussian(real, args.clusters, seed)
    rng = np.random.default_rng(seed)
    held_out = generator.sample(args.queries, rng)
    query_sets = {"real_questions": question_vectors, "held_out_synthetic": held_out}
    result["synthetic"] = {
        "generator": f"clustered Gaussian fitted to the {len(real):,} real MiniLM vectors: {len(generator.means)} "
                     "spherical k-means cells, cell mean + N(0, pooled within-cell covariance), L2-normalised",
        "clusters": len(generator.means), "noise_share_of_squared_norm": round(generator.noise_share, 3),
        "held_out_queries": f"{args.queries} draws of the same generator, not added to any index",
    }
    plan: list[tuple[int, str]] = [(sizes[0], "real MiniLM")]
    if not args.no_synthetic_check:
        plan.append((sizes[0], "synthetic"))
    plan += [(size, "synthetic") for size in sizes[1:]]
    for size, kind in plan:
        vectors = real if kind == "real MiniLM" else generator.sample(size, rng)
        print(f"indexes over {size:,} {kind} vectors", flush=True)
        rows = bench_indexes(vectors, query_sets, index_section, args.index, args.build_threads,
                             args.search_threads, args.ef_search, args.nprobe)
        result["sizes"].append({"n_docs": size, "vectors": kind, "vector_mb": round(vectors.nbytes / 2**20, 1),
                                "indexes": rows})
        del vectors
        trim()

    result["load_average_end"] = load()
    result["total_s"] = round(time.perf_counter() - started_all, 1)
    table = markdown(result)
    result["markdown"] = table
    print()
    print(table)
    print(f"\nload average start {result['load_average_start']}, end {result['load_average_end']}; "
          f"{result['total_s']:.0f} s in all")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
