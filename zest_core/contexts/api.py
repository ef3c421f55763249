"""The Python API: an encoder adapted to a context, applied to your own queries and documents.

``load_encoder`` resolves a context (a corpus version, a corpus name, a list of texts, or
none), derives what the encoder needs from it (through the store's context cache when there
is a store) and returns an ``AdaptedEncoder``: ``encode_queries`` / ``encode_documents``
give both sides of the encoder (dense vectors, and for one with a sparse side its BM25 weights
under the context's statistics), ``search`` ranks documents exactly as ``zest eval`` does,
and the same object follows mteb's search protocol (``index`` + ``search``).
"""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..corpus.store import Store
from ..errors import ZestError
from ..plugin.encoder import DEFAULT_ENCODER
from .encoding import Context, Encoder, State, context_state, make_encoder, resolve_context


@dataclass
class Embeddings:
    """One row per text: ``dense`` (float32, L2-normalised) and, for encoders with a sparse
    side (``has_sparse``), ``sparse``: a CSR matrix whose column indices are stable term ids
    (``AdaptedEncoder.vocabulary``) and whose values are the BM25 weights; ``None`` else."""

    dense: np.ndarray
    sparse: Any = None

    def __len__(self) -> int:
        return len(self.dense)

    def sparse_rows(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(term ids as uint32, weights as float32)`` per row, as sparse engines take them."""
        if self.sparse is None:
            return
        for start, stop in zip(self.sparse.indptr[:-1], self.sparse.indptr[1:]):
            yield (
                self.sparse.indices[start:stop].astype(np.uint32),
                self.sparse.data[start:stop].astype(np.float32),
            )


class Hit(NamedTuple):
    id: Any  # the document's key (a mapping was searched) or its position (a sequence)
    score: float


class AdaptedEncoder:
    """An encoder conditioned on one context; see ``load_encoder``."""

    mteb_model_meta = None  # mteb reads this attribute from search models

    def __init__(self, encoder: Encoder, context: Context, state: State | None):
        self.encoder, self.context, self.state = encoder, context, state
        encoder.use(state)
        self._corpus_ids: list = []
        self._corpus_texts: list[str] = []
        self._corpus: Embeddings | None = None

    # what it is -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.encoder.name

    @property
    def has_sparse(self) -> bool:
        return self.encoder.has_sparse

    @property
    def vocabulary(self) -> list[str]:
        """The context's terms: sparse term id ``i`` below 2^31 is ``vocabulary[i]``; ids from
        2^31 up are hashes of terms the context lacks (see the encoder's ``vocabulary``)."""
        return self.encoder.vocabulary

    def metadata(self) -> dict:
        """What the vectors depend on, recorded with embed output and indexes."""
        return {
            "encoder": self.encoder.name,
            "model": self.encoder.model,
            "model_id": self.encoder.model_id,
            "options": dict(self.encoder.options),
            "settings": self.encoder.settings(),
            "context": {
                "spec": self.context.spec,
                "label": self.context.label,
                "key": self.context.key,
            },
        }

    @classmethod
    def from_metadata(cls, meta: Mapping, state: State | None) -> "AdaptedEncoder":
        """The encoder that ``metadata()`` describes, with its derived context state."""
        encoder = make_encoder(meta["encoder"], meta["model"], **meta["options"])
        context = meta["context"]
        return cls(
            encoder,
            _RecordedContext(context["spec"], context["label"], None, context["key"]),
            state,
        )

    # encoding ---------------------------------------------------------------------------
    def encode_queries(self, texts: Sequence[str]) -> Embeddings:
        texts = _texts(texts)
        dense = np.asarray(self.encoder.embed_queries(texts), dtype=np.float32)
        return Embeddings(dense, self.encoder.sparse_queries(texts) if self.has_sparse else None)

    def encode_documents(self, texts: Sequence[str]) -> Embeddings:
        texts = _texts(texts)
        dense = np.asarray(self.encoder.embed_documents(texts), dtype=np.float32)
        return Embeddings(dense, self.encoder.sparse_documents(texts) if self.has_sparse else None)

    # searching --------------------------------------------------------------------------
    def search(
        self,
        queries,
        documents: Sequence[str] | Mapping[Any, str] | None = None,
        top_k: int = 10,
        **mteb_kwargs: Any,
    ):
        """The ``top_k`` documents per query, scored as ``zest eval`` scores them.

        ``documents``: texts (hits name positions) or a mapping id -> text (hits name ids);
        returns one list of ``Hit(id, score)`` per query, best first. Without ``documents``
        this is mteb's ``search``: queries are mteb's dataset, the corpus is the one given to
        ``index``, and the result maps query id -> {document id: score}.
        """
        if documents is None:
            if self._corpus is None:
                raise ZestError("search without documents needs index(corpus) first (mteb)")
            top = self._rank(list(queries["text"]), self._corpus_texts, self._corpus.dense, top_k)
            return {
                qid: {self._corpus_ids[j]: float(s) for j, s in zip(ids, scores)}
                for qid, ids, scores in zip(queries["id"], top.indices, top.scores)
            }
        keys = list(documents) if isinstance(documents, Mapping) else None
        texts = [documents[k] for k in keys] if keys is not None else _texts(documents)
        vectors = np.asarray(self.encoder.embed_documents(texts), dtype=np.float32)
        top = self._rank(_texts(queries), texts, vectors, top_k)
        return [
            [Hit(keys[j] if keys is not None else int(j), float(s)) for j, s in zip(ids, scores)]
            for ids, scores in zip(top.indices, top.scores)
        ]

    def _rank(self, queries: list[str], texts: list[str], vectors: np.ndarray, top_k: int):
        query_vectors = np.asarray(self.encoder.embed_queries(queries), dtype=np.float32)
        return self.encoder.rank(queries, query_vectors, texts, vectors, top_k)

    def index(self, corpus, **kwargs: Any) -> None:
        """mteb's ``index``: encode the corpus (title and text joined, as mteb does)."""
        self._corpus_ids = list(corpus["id"])
        titles = corpus["title"] if "title" in corpus.column_names else [""] * len(corpus)
        self._corpus_texts = [
            f"{t} {x}".strip() if t else x for t, x in zip(titles, corpus["text"])
        ]
        self._corpus = Embeddings(
            np.asarray(self.encoder.embed_documents(self._corpus_texts), dtype=np.float32)
        )

    def encode(
        self,
        inputs,
        *,
        task_metadata=None,
        hf_split: str = "",
        hf_subset: str = "",
        prompt_type=None,
        **kwargs: Any,
    ) -> np.ndarray:
        """mteb's encoder protocol (for tasks other than retrieval, which use ``search``):
        the dense vectors of a DataLoader's batches of ``{"text": [...]}``."""
        embed = (
            self.encoder.embed_queries
            if getattr(prompt_type, "value", prompt_type) == "query"
            else self.encoder.embed_documents
        )
        rows = [np.asarray(embed(list(batch["text"])), dtype=np.float32) for batch in inputs]
        return np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)

    def similarity(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.asarray(a) @ np.asarray(b).T  # the vectors are L2-normalised: cosine

    def similarity_pairwise(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return (np.asarray(a) * np.asarray(b)).sum(axis=1)

    def close(self) -> None:
        self.encoder.close()

    def __getstate__(self) -> dict:
        # shipped to other processes (Ray workers) without a loaded model: each loads its own
        state = dict(self.__dict__)
        state["encoder"] = make_encoder(
            self.encoder.name, self.encoder.model, **self.encoder.options
        )
        state["_corpus"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.encoder.use(self.state)


@dataclass(frozen=True)
class _RecordedContext(Context):
    """A context known by its recorded key (from metadata), not by its documents."""

    recorded_key: str = "none"

    @property
    def key(self) -> str:
        return self.recorded_key


def _texts(texts) -> list[str]:
    if isinstance(texts, str):
        raise ZestError("give a list of texts, not one string")
    return [str(t) for t in texts]


def load_encoder(
    name: str = DEFAULT_ENCODER,
    context: str | int | Sequence[str] | None = None,
    *,
    model: str | None = None,
    store: Store | None = None,
    db: str | Path | None = None,
    adapted: int | str | None = None,
    **options: Any,
) -> AdaptedEncoder:
    """An encoder plugin conditioned on a context.

    ``context``: ``None`` (no context), a complete corpus version id or corpus name from the
    store (``db``, default the usual database), or a list of texts used as the context.
    ``options`` are the encoder's settings (e.g. ``weight=0.5``).
    ``adapted``: the id of a model ``zest adapt`` trained (see ``zest models``), in place of
    ``model``, for an encoder with a trainable dense model (the same as ``model="adapted:ID"``).
    """
    if adapted is not None:
        from ..adaptation.registry import PREFIX, parse_ref

        if model is not None:
            raise ZestError("give either model or adapted, not both")
        model = f"{PREFIX}{parse_ref(str(adapted))}"
    if model is not None and str(model).startswith("adapted:"):
        from ..adaptation.registry import use_registry

        use_registry(store.path if store else db)
    encoder = make_encoder(name, model, **options)
    try:
        if context is None or context == "none":
            return AdaptedEncoder(encoder, Context("none", "none", None), None)
        if isinstance(context, (str, int)):
            store = store or Store(db)
            resolved = resolve_context(store, str(context), encoder)
            return AdaptedEncoder(encoder, resolved, context_state(store, encoder, resolved)[0])
        texts = tuple(_texts(context))
        if not texts:
            raise ZestError("the context is an empty list of texts")
        resolved = Context("texts", f"{len(texts)} given texts", texts)
        state = context_state(store, encoder, resolved)[0] if store else encoder.derive(list(texts))
        return AdaptedEncoder(encoder, resolved, state)
    except BaseException:
        encoder.close()
        raise


__all__ = ["AdaptedEncoder", "Embeddings", "Hit", "load_encoder"]
