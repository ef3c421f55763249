"""Choosing k exemplars from a larger pool of a user's documents.

``random``: a seeded sample. ``diverse``: k-center (farthest-point) selection on the dense
encoder's vectors, so the exemplars cover the pool's topics rather than its most common one.
``central``: the k documents nearest the pool's centroid, the most typical ones.
"""

import random
from collections.abc import Sequence

import numpy as np

from ..errors import ZestError
from .runconfig import check_k, check_seed

METHODS = ("random", "diverse", "central")


def farthest_point(vectors: np.ndarray, k: int, seed: int = 0) -> list[int]:
    """Greedy k-center: start from a seeded random point, then repeatedly add the point
    farthest (cosine distance) from everything chosen so far."""
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(len(vectors)))]
    distance = 1 - vectors @ vectors[chosen[0]]
    for _ in range(k - 1):
        distance[chosen] = -np.inf  # exact duplicates of a chosen point never come back
        chosen.append(int(np.argmax(distance)))
        distance = np.minimum(distance, 1 - vectors @ vectors[chosen[-1]])
    return chosen


def nearest_centroid(vectors: np.ndarray, k: int) -> list[int]:
    centroid = vectors.mean(axis=0)
    return [int(i) for i in np.argsort(-(vectors @ centroid), kind="stable")[:k]]


def pick(documents: Sequence[dict], k: int, method: str, seed: int = 0, embed=None) -> list[dict]:
    """``k`` of ``documents`` by ``method``, in the pool's order. ``embed(texts)`` returns
    L2-normalised vectors (needed by ``diverse`` and ``central``)."""
    if method not in METHODS:
        raise ZestError(f"unknown selection method '{method}' (choose from {', '.join(METHODS)})")
    check_seed(seed)
    check_k(k)
    if len(documents) < k:
        raise ZestError(f"the pool has {len(documents)} documents, fewer than --k {k}")
    if method == "random":
        chosen = random.Random(seed).sample(range(len(documents)), k)
    else:
        vectors = np.asarray(embed([_text(d) for d in documents]), dtype=np.float64)
        chosen = (
            farthest_point(vectors, k, seed)
            if method == "diverse"
            else nearest_centroid(vectors, k)
        )
    return [documents[i] for i in sorted(chosen)]


def choose(
    pool: Sequence[dict], k: int, seed: int = 0, select: str = "random", embed=None
) -> list[dict]:
    """The exemplars a run starts from, chosen alike by ``zest run``, ``generate`` and ``zest
    experiment``: the whole ``pool`` when it holds no more than ``k``, else ``k`` of it by
    ``select`` (``pick``; ``random`` is a seeded sample). ``embed`` is called only when
    ``select`` needs vectors (the callers pass ``contexts.encoding.dense_embedder``'s)."""
    check_k(k)
    if len(pool) <= k:
        return list(pool)
    return pick(pool, k, select, seed, embed)


def _text(doc: dict) -> str:
    return f"{doc['title']} {doc['text']}" if doc.get("title") else doc["text"]


__all__ = ["METHODS", "choose", "farthest_point", "nearest_centroid", "pick"]
