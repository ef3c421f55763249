"""What an encoder plugin implements, and the scoring helpers encoders share.

An encoder embeds queries and documents, optionally conditioned on a *context* corpus; what
it derives from a context is cached by the core (``zest_core.contexts.encoding``), so the
base class here knows nothing of the store.
"""

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from .options import ModelPlugin

State = dict[str, np.ndarray]

#: The encoder ``zest eval``, ``load_encoder`` and an experiment's ``[[encoder]]`` use unless
#: told otherwise: the one shipped plugin the core names.
DEFAULT_ENCODER = "hybrid"


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
    #: True when the encoder also has a sparse side (e.g. BM25 term weights under the
    #: context's statistics): it then implements ``vocabulary``, ``sparse_documents`` and
    #: ``sparse_queries``, and ``sparse_scores`` gives their products.
    has_sparse: ClassVar[bool] = False
    #: True when the encoder has a trainable dense model: a local sentence-transformers
    #: model (its ``model``) that ``zest adapt`` fine-tunes and ``adapted:ID`` replaces, so
    #: ``[[encoder]] adapted = true`` can train it.
    has_trainable_dense: ClassVar[bool] = False
    #: The settings ``zest tune`` searches (option name -> values, every combination tried);
    #: empty: the encoder cannot be tuned.
    tuning_grid: ClassVar[dict[str, list]] = {}

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
        depend on the whole document set (a fused score's standardisation) override this."""
        block_size = block_size or BLOCK_SIZE
        top = TopK(len(queries), top_k)
        for start in range(0, len(documents), block_size):
            block = slice(start, start + block_size)
            top.add(
                start,
                self.scores(queries, query_vectors, documents[block], document_vectors[block]),
            )
        return top

    @property
    def vocabulary(self) -> list[str]:
        """The context's terms: sparse term id ``i`` is ``vocabulary[i]`` (empty without a
        sparse side)."""
        return []

    def sparse_documents(self, texts: Sequence[str]) -> Any:
        """One row of term weights per document: a ``scipy.sparse`` CSR matrix whose column
        indices are stable term ids (see ``vocabulary``); only when ``has_sparse``."""
        raise NotImplementedError(f"encoder '{self.name}' has no sparse side")

    def sparse_queries(self, texts: Sequence[str]) -> Any:
        """One row of term weights per query, as ``sparse_documents``."""
        raise NotImplementedError(f"encoder '{self.name}' has no sparse side")

    def sparse_scores(self, queries: Sequence[str], documents: Sequence[str]) -> np.ndarray:
        """Query x document products of the sparse side (BM25, for BM25 term weights), under
        the context ``use`` installed; only when ``has_sparse``."""
        return sparse_dot(self.sparse_queries(queries), self.sparse_documents(documents))

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


def sparse_dot(queries, documents) -> np.ndarray:
    """Dense (queries x documents) products of two CSR matrices over stable term ids,
    through a compact column space (a 2^32-column matrix cannot be transposed in memory)."""
    from scipy.sparse import csr_matrix

    columns, inverse = np.unique(
        np.concatenate([queries.indices, documents.indices]), return_inverse=True
    )
    split = len(queries.indices)

    def compact(matrix, ids):
        return csr_matrix((matrix.data, ids, matrix.indptr), shape=(matrix.shape[0], len(columns)))

    return (compact(queries, inverse[:split]) @ compact(documents, inverse[split:]).T).toarray()


def standardise(scores: np.ndarray, mean, std) -> np.ndarray:
    """Zero mean, unit variance over all documents (``mean`` and ``std`` per query: one
    number for a row of scores, a column for a matrix), so that two kinds of score can be
    weighted; a query whose scores do not vary scores 0 everywhere."""
    mean, std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
    if scores.ndim == 2:
        mean, std = mean[:, None], std[:, None]
    live = std > 1e-9 * np.maximum(np.abs(mean), 1)
    return np.where(live, (scores - mean) / np.where(live, std, 1), 0.0)


__all__ = [
    "BLOCK_SIZE",
    "DEFAULT_ENCODER",
    "DocumentMoments",
    "Encoder",
    "State",
    "TopK",
    "best",
    "query_moments",
    "sparse_dot",
    "standardise",
]
