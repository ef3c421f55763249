"""``zest index`` / ``zest search``: an on-disk index over ``zest embed`` shards that ranks
exactly as ``zest eval`` scores, without scoring every document.

A fused score is ``w * z(dense) + (1 - w) * z(bm25)`` where ``z`` standardises a
query's scores over *all* documents. The index holds what that needs:

* ``dense.usearch``: an HNSW graph over the dense vectors (usearch, inner product, its
  copy of the vectors in float16: it only proposes candidates), for the dense candidates;
  ``vectors.npy``: the float32 vectors, memory-mapped, to score candidates exactly;
  ``moments.npz``: the vectors' mean and second moment, so a query's
  dense mean and standard deviation over all documents are ``q . mu`` and
  ``sqrt(q^T M q - (q . mu)^2)`` (exact, no scan);
* ``bm25-{data,indices,indptr}.npy``: the documents' BM25 weights as a CSC matrix (an
  inverted index), memory-mapped: a query's BM25 scores for every document are the sum of
  its terms' columns, so its BM25 mean, standard deviation and top documents are exact and
  cost the length of its postings.

Everything large is memory-mapped, so a search process holds the pages its queries touch,
not the index (at 1M documents: docs/scale.md).

Candidates are the dense top ``candidates`` from the graph and the BM25 top ``candidates``;
each is scored exactly, and the best ``top_k`` returned. A document that is neither near
the query nor high in BM25 can still be missed: ``benchmarks/scale.py`` measures recall
against exact scoring.
"""

import json
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..contexts.api import AdaptedEncoder, Hit
from ..corpus.export import umask_mode
from ..deps import install_hint
from ..errors import ZestError
from ..outputs import check_replaceable, mark, replace_folder
from ..plugin.encoder import DocumentMoments, best, query_moments, standardise
from ..plugin.manager import get_encoder
from .documents import check_queries, write_places
from .settings import CANDIDATES, CONNECTIVITY, EXPANSION_ADD, EXPANSION_SEARCH, GRAPH_DTYPE
from .shards import META, STATE, check_shards, read_meta, read_state, require_keys, write_json

KIND = "index"  # the kind in the folder's marker file (zest_core/outputs.py)
INDEX_FORMAT = 2  # 2: float16 graph, memory-mapped BM25 arrays
#: At most this many documents are added by the threshold bound per query (see _bounded).
MAX_EXTRA = 50_000
#: What an index copies from the embed output's meta.json (and search reads back).
INDEX_META = ("encoder", "model", "model_id", "options", "settings", "context", "count")
BM25_PARTS = ("data", "indices", "indptr")
#: What loading a truncated or overwritten index file raises: numpy's ValueError (an .npy
#: shorter than its header says) or EOFError, zipfile's BadZipFile (an .npz), usearch's
#: RuntimeError, OSError (a missing file).
DAMAGED = (OSError, ValueError, EOFError, RuntimeError, zipfile.BadZipFile)


def _usearch():
    try:
        from usearch.index import Index
    except ImportError:
        raise ZestError(f"zest index needs usearch and scipy ({install_hint('search')})") from None
    return Index


def new_graph(ndim: int, dtype: str = GRAPH_DTYPE):
    """An empty usearch HNSW graph with zest index's settings."""
    return _usearch()(
        ndim=ndim,
        metric="ip",
        dtype=dtype,
        connectivity=CONNECTIVITY,
        expansion_add=EXPANSION_ADD,
        expansion_search=EXPANSION_SEARCH,
    )


def build_index(
    source: Path, target: Path | None = None, on_shard=None, force: bool = False
) -> Path:
    """An index over the complete embed output ``source``, written to ``target`` (default
    ``source/index``) under a temporary name and renamed when whole. An existing ``target``
    is replaced only when it is an index zest made and ``force`` is given (``outputs``)."""
    _usearch()  # a missing extra: one clear error before any work
    meta = read_meta(source)
    target = check_replaceable(target or source / "index", KIND, force, inputs=(source,))
    if not meta.get("complete"):
        raise ZestError(f"{source} is not complete: run the same zest embed again to finish it")
    require_keys(source, meta, ("shards", *INDEX_META))
    missing = [name for name in meta["shards"] if not (source / name).is_file()]
    if missing:
        raise ZestError(
            f"{source} lacks shard {missing[0]}"
            + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
            + ": run the same zest embed again to write it"
        )
    check_shards(source, meta)
    state = read_state(source)
    building = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".building", dir=target.parent)
    )
    try:
        building.chmod(umask_mode(0o777))
        _build(source, meta, state, building, on_shard)
        mark(building, KIND)
        replace_folder(building, target)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return target


def _build(source: Path, meta: dict, state, building: Path, on_shard) -> None:
    """The index files of ``source`` (its ``meta`` and context ``state``) in ``building``."""
    count, sparse = meta["count"], get_encoder(meta["encoder"]).has_sparse
    ids: list[str] = []
    vectors = graph = moments = None
    for name in meta["shards"]:
        table = _read_shard(source / name, ["id", "dense"])
        dense = _dense(table)
        if vectors is None:
            vectors = np.lib.format.open_memmap(
                building / "vectors.npy", mode="w+", dtype=np.float32, shape=(count, dense.shape[1])
            )
            graph = new_graph(dense.shape[1])
            moments = DocumentMoments(dense.shape[1])
        start = len(ids)
        if start + len(dense) > count:
            raise ZestError(f"{source / name} has more rows than {META} counts")
        vectors[start : start + len(dense)] = dense
        graph.add(np.arange(start, start + len(dense), dtype=np.uint64), dense)
        moments.add(dense)
        ids.extend(table.column("id").to_pylist())
        if on_shard:
            on_shard(len(dense))
    if len(ids) != count:
        raise ZestError(f"{source}: the shards hold {len(ids)} documents, {META} says {count}")
    vectors.flush()
    graph.save(str(building / "dense.usearch"))
    np.savez(building / "moments.npz", **moments.arrays())
    np.save(building / "ids.npy", np.asarray(ids, dtype=str))
    write_places([source / name for name in meta["shards"]], building)
    if sparse:
        _write_bm25([source / name for name in meta["shards"]], count, building)
    np.savez(building / "context.npz", **(state or {}))
    index_meta = {key: meta[key] for key in INDEX_META}
    write_json(
        building / META,
        {
            **index_meta,
            "index_format": INDEX_FORMAT,
            "source": str(source.resolve()),
            "engine": {
                "dense": "usearch",
                "dtype": GRAPH_DTYPE,
                "connectivity": CONNECTIVITY,
                "expansion_add": EXPANSION_ADD,
                "expansion_search": EXPANSION_SEARCH,
                "sparse": "scipy.sparse CSC" if sparse else None,
            },
        },
    )


def _sparse_columns(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A shard's BM25 rows: their lengths, term ids and weights (one shard in memory)."""
    table = _read_shard(path, ["sparse_indices", "sparse_weights"])
    terms = table.column("sparse_indices").combine_chunks()
    lengths = np.diff(terms.offsets.to_numpy())
    weights = table.column("sparse_weights").combine_chunks().flatten().to_numpy()
    return lengths, terms.flatten().to_numpy().astype(np.uint32), weights


def _write_bm25(shards: list[Path], count: int, building: Path) -> None:
    """The BM25 weights of all ``shards`` as the arrays of a CSC matrix (one column per
    term, rows ascending), written straight into memory-mapped ``.npy`` files in two passes
    over the shards, so memory holds one shard and the term list, not the corpus's entries
    (an in-memory CSR-to-CSC build needed 10.7 GiB at 1M documents: docs/scale.md)."""
    terms, counts = np.zeros(0, np.uint32), np.zeros(0, np.int64)
    for path in shards:  # pass 1: every term, and the length of its column
        shard_terms, shard_counts = np.unique(_sparse_columns(path)[1], return_counts=True)
        merged = np.concatenate([terms, shard_terms])
        terms, where = np.unique(merged, return_inverse=True)
        counts = np.bincount(where, np.concatenate([counts, shard_counts]), len(terms))
        counts = counts.astype(np.int64)
    nnz = int(counts.sum())
    # int32 while it fits: scipy would copy int32 row ids into int64 to match an int64 indptr
    index_type = np.int32 if max(nnz, count) < 2**31 else np.int64
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(index_type)
    data = np.lib.format.open_memmap(building / "bm25-data.npy", "w+", np.float32, (nnz,))
    rows = np.lib.format.open_memmap(building / "bm25-indices.npy", "w+", index_type, (nnz,))
    free, start = indptr[:-1].astype(np.int64), 0  # the next free slot of each column
    for path in shards:  # pass 2: each entry into its column's next free slot
        lengths, shard_terms, weights = _sparse_columns(path)
        columns = np.searchsorted(terms, shard_terms)
        order = np.argsort(columns, kind="stable")  # stable: rows stay ascending per column
        columns = columns[order]
        used, first, n = np.unique(columns, return_index=True, return_counts=True)
        slots = np.repeat(free[used] - first, n) + np.arange(len(columns))
        data[slots] = weights[order]
        rows[slots] = (start + np.repeat(np.arange(len(lengths)), lengths))[order]
        free[used] += n
        start += len(lengths)
    if start != count:
        raise ZestError(f"the shards hold {start} BM25 rows, not {count}")
    data.flush()
    rows.flush()
    np.save(building / "bm25-indptr.npy", indptr)
    np.save(building / "terms.npy", terms)


def _read_shard(path: Path, columns: list[str] | None = None):
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=columns)
    except Exception as e:  # a damaged file
        raise ZestError(f"{path} cannot be read ({e})") from None


def _dense(table) -> np.ndarray:
    column = table.column("dense").combine_chunks()
    return column.values.to_numpy().reshape(len(column), -1)


class SearchIndex:
    """A built index, memory-mapped; ``search`` ranks queries with an ``AdaptedEncoder``
    that must match the one the index was built with (``check``)."""

    def __init__(self, directory: str | Path, expansion: int = EXPANSION_SEARCH):
        """``expansion``: the graph's search breadth (usearch ``expansion_search``); more
        finds more of the true dense neighbours at some latency (docs/scale.md)."""
        from scipy.sparse import csc_matrix

        self.path = Path(directory)
        self.meta = read_meta(self.path)
        if self.meta.get("index_format") != INDEX_FORMAT:
            raise ZestError(
                f"{self.path} is not a zest index of this version"
                f" (format {self.meta.get('index_format')}, not {INDEX_FORMAT}):"
                " build it again with zest index"
            )
        require_keys(self.path, self.meta, INDEX_META)
        self.graph = self._load("dense.usearch", _restore_graph)
        self.graph.expansion_search = expansion
        self.vectors = self._load("vectors.npy", _memory_map)
        self.ids = self._load("ids.npy", _memory_map)
        self.moments = self._load("moments.npz", _moments)
        self.bm25 = self.terms = None
        if (self.path / "terms.npy").is_file():
            self.terms = self._load("terms.npy", np.load)
            parts = [self._load(f"bm25-{p}.npy", _memory_map) for p in BM25_PARTS]
            # copy=False keeps the arrays memory-mapped: a query reads only its postings
            self.bm25 = csc_matrix(
                tuple(parts), shape=(len(self.vectors), len(self.terms)), copy=False
            )

    def encoder(self, model: str | None = None, **options: Any) -> AdaptedEncoder:
        """The encoder the index was built with, from its recorded settings and context
        (``model`` and ``options`` replace the recorded ones: ``check`` then refuses them
        if they differ)."""
        meta = {
            **self.meta,
            "model": model or self.meta["model"],
            "options": {**self.meta["options"], **options},
        }
        return AdaptedEncoder.from_metadata(meta, self._load(STATE, lambda p: read_state(p.parent)))

    def _load(self, name: str, load):
        """``load(path)`` of the index's file ``name``; a damaged file (truncated, say) is one
        error that names it, not numpy's or usearch's traceback."""
        path = self.path / name
        try:
            return load(path)
        except DAMAGED as e:
            raise ZestError(
                f"{path} is damaged ({e}): run zest index again to build the index again"
            ) from None

    def check(self, encoder: AdaptedEncoder) -> None:
        """Refuse an encoder or context other than the index's, naming the difference."""
        wanted, built = encoder.metadata(), self.meta
        if wanted["encoder"] != built["encoder"]:
            raise ZestError(
                f"{self.path} was built with encoder {built['encoder']!r},"
                f" not {wanted['encoder']!r}"
            )
        if wanted["context"]["key"] != built["context"]["key"]:
            raise ZestError(
                f"{self.path} was built with context {built['context']['label']!r},"
                f" not {wanted['context']['label']!r}"
            )
        differ = sorted(
            k
            for k in set(wanted["settings"]) | set(built["settings"])
            if wanted["settings"].get(k) != built["settings"].get(k)
        )
        if differ:
            raise ZestError(
                f"{self.path} was built with other encoder settings: "
                + ", ".join(
                    f"{k}={built['settings'].get(k)!r} there, {wanted['settings'].get(k)!r} asked"
                    for k in differ
                )
            )

    def search(
        self,
        encoder: AdaptedEncoder,
        queries: Sequence[str],
        top_k: int = 10,
        candidates: int = CANDIDATES,
    ) -> list[list[Hit]]:
        check_queries(queries)
        self.check(encoder)
        embedded = encoder.encode_queries(queries)
        weight = encoder.encoder.options.get("weight") if self.bm25 is not None else None
        return [
            [Hit(str(self.ids[j]), float(s)) for j, s in zip(*ranked)]
            for ranked in self.rank(embedded.dense, embedded.sparse, top_k, candidates, weight)
        ]

    def rank(
        self, dense: np.ndarray, sparse: Any, top_k: int, candidates: int, weight: float | None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(document rows, scores)`` of the best ``top_k`` documents per query, scored
        exactly (``weight``: the fused score's; ``None``: plain cosine, as dense encoders score)."""
        count = len(self.vectors)
        candidates = min(candidates, count)
        found = np.atleast_2d(self.graph.search(dense, candidates).keys).astype(np.int64)
        dense_mean, dense_std = query_moments(dense, **self.moments)
        ranked = []
        for row, query in enumerate(dense):
            near = np.unique(found[row][found[row] < count])  # usearch pads with max keys
            cosine = self.vectors[near] @ query
            if weight is None:
                ranked.append(best(near, cosine, top_k))
                continue
            bm25 = self._bm25(sparse, row)
            fused = _Fused(self.vectors, query, weight, dense_mean[row], dense_std[row], bm25)
            pool = np.union1d(near, np.argpartition(-bm25, candidates - 1)[:candidates])
            scores = fused(pool)
            if len(near) < count and len(pool) >= top_k:
                # Fagin's threshold: a document outside the dense candidates has a cosine
                # no higher than their lowest, so its fused score is at most that floor
                # plus its (exact) BM25 part; score every document whose bound reaches
                # the current top_k-th score, so only the graph's own misses are missed
                threshold = np.partition(scores, len(scores) - top_k)[len(scores) - top_k]
                bound = fused.dense_part(np.min(cosine)) + fused.bm25_part
                extra = np.setdiff1d(np.flatnonzero(bound >= threshold), pool, assume_unique=True)
                if len(extra) > MAX_EXTRA:  # a latency cap: the highest bounds first
                    extra = extra[np.argpartition(-bound[extra], MAX_EXTRA - 1)[:MAX_EXTRA]]
                extra = np.sort(extra)  # reads the memory-mapped vectors in file order
                pool, scores = np.concatenate([pool, extra]), np.concatenate([scores, fused(extra)])
            ranked.append(best(pool, scores, top_k))
        return ranked

    def _bm25(self, sparse: Any, row: int) -> np.ndarray:
        """The query's BM25 score for every document: the sum of its terms' columns."""
        query = sparse.indices[sparse.indptr[row] : sparse.indptr[row + 1]].astype(np.int64)
        where = np.searchsorted(self.terms, query)
        where = where[
            (where < len(self.terms))
            & (self.terms[np.minimum(where, len(self.terms) - 1)] == query)
        ]
        if not len(where):
            return np.zeros(self.bm25.shape[0])
        return np.asarray(self.bm25[:, where].sum(axis=1), dtype=np.float64).ravel()


def _restore_graph(path: Path):
    graph = _usearch().restore(str(path), view=True)
    if graph is None:  # usearch's answer to a file whose header it cannot read
        raise ValueError("not a usearch index")
    return graph


def _memory_map(path: Path) -> np.ndarray:
    return np.load(path, mmap_mode="r")


def _moments(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as arrays:
        return {"mean": arrays["mean"], "second": arrays["second"]}


class _Fused:
    """One query's fused score of any documents, standardised over all of them."""

    def __init__(self, vectors, query, weight, dense_mean, dense_std, bm25):
        self.vectors, self.query, self.weight = vectors, query, weight
        self.dense_mean, self.dense_std = dense_mean, dense_std
        self.bm25_part = (1 - weight) * standardise(bm25, bm25.mean(), bm25.std())

    def dense_part(self, cosine):
        return self.weight * standardise(cosine, self.dense_mean, self.dense_std)

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        return self.dense_part(self.vectors[rows] @ self.query) + self.bm25_part[rows]


def describe(path: Path) -> str:
    meta = read_meta(path)
    return (
        f"{meta['count']} documents, encoder {meta['encoder']}"
        f" ({json.dumps(meta['options'], sort_keys=True)}), context {meta['context']['label']}"
    )


__all__ = ["SearchIndex", "build_index", "check_queries", "describe"]
