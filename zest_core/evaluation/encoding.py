"""Encoders, their contexts, and the two caches that make comparing contexts cheap.

An encoder embeds queries and documents, optionally conditioned on a *context*: a complete
synthetic corpus version (ZEST), a seeded sample of the real target corpus ("full access"), or
nothing. What an encoder derives from a context (CDE stage-1 vectors, BM25 statistics) is
stored in the ``context_cache`` table once per (context, encoder, settings); the target
corpus's document vectors are stored in ``embedding_cache`` once per (dataset, model).
"""

import hashlib
import io
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..corpus.store import Store, now
from ..errors import ZestError
from ..plugin.manager import get_encoder
from ..plugin.options import ModelPlugin

State = dict[str, np.ndarray]


class Encoder(ModelPlugin):
    """Base class of encoder plugins (see the ``register_encoders`` hook).

    Subclasses set ``name`` and ``options`` like generators do, and implement
    ``embed_queries`` and ``embed_documents`` (one row per text). A context-aware encoder also
    implements ``derive`` (context documents -> arrays, cached by the caller) and ``use``
    (installs those arrays, or ``None`` for no context), and may override ``scores``.
    """

    kind = "encoder"
    #: How many real documents the ``real`` context samples (the CDE context size).
    context_size: int = 512
    #: True when query and document vectors depend on the context (cached per context).
    vectors_use_context: ClassVar[bool] = False
    #: Whether embedding shows progress bars (the CLI turns it on).
    progress: bool = False

    def settings(self) -> dict[str, Any]:
        """Everything that changes the output: part of every cache key and stored result."""
        return {"model": self.model_id, **self.options}

    def document_model(self) -> dict[str, Any]:
        """What document vectors depend on; encoders sharing it share the corpus cache."""
        return self.settings()

    def derive(self, documents: list[str]) -> State:
        """Arrays computed from a context corpus; context-agnostic encoders derive nothing."""
        return {}

    def use(self, state: State | None) -> None:
        """Condition later embeddings on a derived context (``None``: no context)."""

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def scores(
        self,
        queries: Sequence[str],
        query_vectors: np.ndarray,
        documents: Sequence[str],
        document_vectors: np.ndarray,
    ) -> np.ndarray:
        """Query x document relevance; vectors are L2-normalised, so this is cosine."""
        return query_vectors @ document_vectors.T

    def rank(
        self,
        queries: Sequence[str],
        query_vectors: np.ndarray,
        documents: Sequence[str],
        document_vectors: np.ndarray,
        top_k: int,
        block_size: int = 0,
    ) -> "TopK":
        """The ``top_k`` documents per query, scored ``block_size`` documents at a time so
        memory grows with the block, not with queries x documents. Encoders whose scores
        depend on the whole document set (the hybrid's standardisation) override this."""
        block_size = block_size or BLOCK_SIZE
        top = TopK(len(queries), top_k)
        for start in range(0, len(documents), block_size):
            block = slice(start, start + block_size)
            top.add(
                start,
                self.scores(queries, query_vectors, documents[block], document_vectors[block]),
            )
        return top

    def close(self) -> None:
        """Release models; called once the caller is done."""


#: Documents scored at once: 64 queries x 8192 documents of float64 is 4 MB.
BLOCK_SIZE = 8192


class TopK:
    """A running top-k per query over score blocks; ties go to the earlier document."""

    def __init__(self, n_queries: int, k: int):
        self.k = k
        self.indices = np.zeros((n_queries, 0), dtype=np.int64)
        self.scores = np.zeros((n_queries, 0))

    def add(self, offset: int, scores: np.ndarray) -> None:
        ids = np.broadcast_to(np.arange(offset, offset + scores.shape[1]), scores.shape)
        indices = np.concatenate([self.indices, ids], axis=1)
        merged = np.concatenate([self.scores, scores], axis=1)
        order = _order(indices, merged)[:, : self.k]
        self.indices = np.take_along_axis(indices, order, axis=1)
        self.scores = np.take_along_axis(merged, order, axis=1)


def _order(indices: np.ndarray, scores: np.ndarray) -> np.ndarray:
    # by score, then by document, so that blocks, whole matrices and indexes rank alike
    return np.lexsort((indices, -scores), axis=-1)


def best(indices: np.ndarray, scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best of one query's ``(documents, scores)``, in ``TopK``'s order."""
    order = _order(indices, scores)[:k]
    return indices[order], scores[order]


class DocumentMoments:
    """Mean and second moment of document vectors, so that the mean and standard deviation
    of a query's dot products with all documents come without scoring them:
    mean = q . mu, variance = q^T M q - mean^2."""

    def __init__(self, dim: int):
        self.count, self.total, self.second = 0, np.zeros(dim), np.zeros((dim, dim))

    def add(self, vectors: np.ndarray) -> None:
        vectors = vectors.astype(np.float64)
        self.count += len(vectors)
        self.total += vectors.sum(axis=0)
        self.second += vectors.T @ vectors

    def arrays(self) -> State:
        n = max(self.count, 1)
        return {"mean": self.total / n, "second": self.second / n}

    def of(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return query_moments(queries, **self.arrays())


def query_moments(
    queries: np.ndarray, mean: np.ndarray, second: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    queries = queries.astype(np.float64)
    centre = queries @ mean
    variance = np.einsum("qi,ij,qj->q", queries, second, queries) - centre**2
    return centre, np.sqrt(np.maximum(variance, 0))


def standardise(scores: np.ndarray, mean, std) -> np.ndarray:
    """Zero mean, unit variance over all documents (``mean`` and ``std`` per query: one
    number for a row of scores, a column for a matrix), so that two kinds of score can be
    weighted; a query whose scores do not vary scores 0 everywhere."""
    mean, std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
    if scores.ndim == 2:
        mean, std = mean[:, None], std[:, None]
    live = std > 1e-9 * np.maximum(np.abs(mean), 1)
    return np.where(live, (scores - mean) / np.where(live, std, 1), 0.0)


def make_encoder(name: str, model: str | None = None, **options: Any) -> Encoder:
    return get_encoder(name)(model=model, **options)


def digest(value: Any) -> str:
    data = value if isinstance(value, bytes) else json.dumps(value, sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()


# contexts ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Context:
    """A resolved ``--context`` value: its documents (``None`` for no context)."""

    spec: str
    label: str
    documents: tuple[str, ...] | None

    @property
    def key(self) -> str:
        return "none" if self.documents is None else digest(list(self.documents))


def resolve_context(
    store: Store,
    spec: str,
    encoder: Encoder,
    real_corpus: Sequence[str] | None = None,
    seed: int = 0,
) -> Context:
    """``none``; ``real`` or ``real:N`` or ``real:all`` (a seeded sample of ``real_corpus``,
    N defaulting to the encoder's context size); or a corpus version id or corpus name."""
    spec = spec.strip()
    if spec == "none":
        return Context(spec, "none", None)
    if spec == "real" or spec.startswith("real:"):
        if real_corpus is None:
            raise ZestError("context 'real' needs a target corpus (use it with zest eval)")
        size = spec.partition(":")[2] or str(encoder.context_size)
        if size == "all":
            return Context(spec, f"real (all {len(real_corpus)})", tuple(real_corpus))
        if not size.isdigit() or int(size) < 1:
            raise ZestError(f"context {spec!r}: expected real, real:N or real:all")
        n = min(int(size), len(real_corpus))
        picked = random.Random(seed).sample(range(len(real_corpus)), n)
        return Context(
            spec, f"real ({n}, seed {seed})", tuple(real_corpus[i] for i in sorted(picked))
        )
    version = store.require_complete(spec)
    texts = tuple(doc["text"] for doc in store.documents(version["id"]))
    if not texts:
        raise ZestError(f"version {version['id']} has no documents to use as a context")
    return Context(spec, f"version {version['id']} ({version['corpus']}, {len(texts)} docs)", texts)


# the two caches ---------------------------------------------------------------------------
def _pack(state: State) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **state)
    return buffer.getvalue()


def _unpack(data: bytes) -> State:
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        return {name: arrays[name] for name in arrays.files}


def context_state(store: Store, encoder: Encoder, context: Context) -> tuple[State | None, bool]:
    """What ``encoder`` derives from ``context``, from the cache when possible.

    Returns ``(state, cached)``; the state is ``None`` for no context.
    """
    if context.documents is None:
        return None, False
    settings = encoder.settings()
    key = digest([context.key, encoder.name, settings])
    row = store.db.execute("SELECT data FROM context_cache WHERE key = ?", [key]).fetchone()
    if row:
        return _unpack(row[0]), True
    state = encoder.derive(list(context.documents))
    with store.transaction():
        store.db["context_cache"].insert(
            {
                "key": key,
                "encoder": encoder.name,
                "settings": json.dumps(settings, sort_keys=True),
                "context": context.label,
                "created": now(),
                "data": _pack(state),
            },
            replace=True,
        )
    return state, False


#: Vectors per embedding_chunks row: 2048 MiniLM vectors are 3 MB.
CHUNK_ROWS = 2048


def document_vectors(
    store: Store,
    encoder: Encoder,
    dataset: str,
    fingerprint: str,
    texts: Sequence[str],
    context: Context,
) -> tuple[np.ndarray, bool]:
    """The target corpus's document vectors, encoded once per (dataset, model).

    ``fingerprint`` identifies the corpus contents; for encoders whose document vectors
    depend on the context, the context is part of the key. Returns ``(vectors, cached)``.
    The vectors are stored in ``embedding_chunks`` rows of ``CHUNK_ROWS`` vectors; a row
    of ``embedding_cache`` is written last, in the same transaction, so a cache entry is
    either whole or absent.
    """
    model = encoder.document_model()
    if encoder.vectors_use_context:
        model = {**model, "context": context.key}
    key = digest([fingerprint, model])
    if (vectors := _cached_vectors(store, key)) is not None:
        return vectors, True
    vectors = np.ascontiguousarray(encoder.embed_documents(list(texts)), dtype=np.float32)
    with store.transaction():
        store.db.execute("DELETE FROM embedding_chunks WHERE key = ?", [key])
        store.db["embedding_cache"].insert(
            {
                "key": key,
                "dataset": dataset,
                "model": json.dumps(model, sort_keys=True),
                "count": vectors.shape[0],
                "dim": vectors.shape[1],
                "created": now(),
                "data": None,
            },
            replace=True,
        )
        store.db["embedding_chunks"].insert_all(
            (
                {"key": key, "chunk": i, "data": vectors[start : start + CHUNK_ROWS].tobytes()}
                for i, start in enumerate(range(0, len(vectors), CHUNK_ROWS))
            ),
            replace=True,
        )
    return vectors, False


def _cached_vectors(store: Store, key: str) -> np.ndarray | None:
    row = store.db.execute(
        "SELECT count, dim, data FROM embedding_cache WHERE key = ?", [key]
    ).fetchone()
    if not row:
        return None
    count, dim, blob = row
    if blob is not None:  # written before migration m006: one blob
        return np.frombuffer(blob, dtype=np.float32).reshape(count, dim)
    vectors, filled = np.empty((count, dim), dtype=np.float32), 0
    for (chunk,) in store.db.execute(
        "SELECT data FROM embedding_chunks WHERE key = ? ORDER BY chunk", [key]
    ):
        part = np.frombuffer(chunk, dtype=np.float32).reshape(-1, dim)
        vectors[filled : filled + len(part)] = part
        filled += len(part)
    return vectors if filled == count else None


__all__ = [
    "BLOCK_SIZE",
    "Context",
    "DocumentMoments",
    "Encoder",
    "TopK",
    "best",
    "context_state",
    "document_vectors",
    "make_encoder",
    "query_moments",
    "resolve_context",
    "standardise",
]
