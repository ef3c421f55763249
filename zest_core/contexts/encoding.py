"""Encoders' contexts, and the two caches that make comparing contexts cheap.

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
from typing import Any

import numpy as np

from ..corpus.caches import ContextCache, EmbeddingCache
from ..corpus.store import Store, now
from ..errors import ZestError
from ..plugin.encoder import Encoder, State
from ..plugin.manager import get_encoder


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
    cache = ContextCache(store)
    if (data := cache.get(key)) is not None:
        return _unpack(data), True
    state = encoder.derive(list(context.documents))
    cache.put(
        {
            "key": key,
            "encoder": encoder.name,
            "settings": json.dumps(settings, sort_keys=True),
            "context": context.label,
            "created": now(),
            "data": _pack(state),
        }
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
    EmbeddingCache(store).put(
        {
            "key": key,
            "dataset": dataset,
            "model": json.dumps(model, sort_keys=True),
            "count": vectors.shape[0],
            "dim": vectors.shape[1],
            "created": now(),
            "data": None,
        },
        (
            vectors[start : start + CHUNK_ROWS].tobytes()
            for start in range(0, len(vectors), CHUNK_ROWS)
        ),
    )
    return vectors, False


def _cached_vectors(store: Store, key: str) -> np.ndarray | None:
    cache = EmbeddingCache(store)
    row = cache.entry(key)
    if not row:
        return None
    count, dim, blob = row
    if blob is not None:  # written before migration m006: one blob
        return np.frombuffer(blob, dtype=np.float32).reshape(count, dim)
    vectors, filled = np.empty((count, dim), dtype=np.float32), 0
    for chunk in cache.chunks(key):
        part = np.frombuffer(chunk, dtype=np.float32).reshape(-1, dim)
        vectors[filled : filled + len(part)] = part
        filled += len(part)
    return vectors if filled == count else None


def dense_embedder(store=None, model: str | None = None, lazy: bool = False):
    """The dense encoder's ``embed_documents``, through the store's embedding cache when a
    store is given (a pool is encoded once per model); ``lazy``: the encoder is made on the
    first call (a random choice, or a pool no larger than k, loads nothing)."""
    made: list[Encoder] = [] if lazy else [make_encoder("dense", model)]

    def embed(texts: list[str]) -> np.ndarray:
        if not made:
            made.append(make_encoder("dense", model))
        encoder = made[0]
        if store is None:
            return encoder.embed_documents(texts)
        return document_vectors(
            store, encoder, "exemplar-pool", digest(texts), texts, Context("none", "none", None)
        )[0]

    return embed


__all__ = [
    "Context",
    "context_state",
    "dense_embedder",
    "document_vectors",
    "make_encoder",
    "resolve_context",
]
