"""Near-duplicate detection with MinHash and LSH banding, vectorised with numpy.

Same method as datasketch's ``MinHash`` + ``MinHashLSH`` (word shingles, one hash per
permutation, the band/row split that minimises weighted false positives and false negatives
at the threshold), but computed for all documents at once instead of one Python object per
document: ``benchmarks/near_dedup.py`` measures both on 100k documents. Candidate pairs are
verified by the exact Jaccard similarity of their shingle sets.
"""

from typing import NamedTuple

import numpy as np


class Pair(NamedTuple):
    """Document ``later`` is a near-duplicate of the earlier document ``kept``."""

    kept: int
    later: int
    similarity: float


class Shingles(NamedTuple):
    """The 64-bit hashes of every document's word shingles, concatenated."""

    hashes: np.ndarray  # uint64, document after document
    offsets: np.ndarray  # int64, len(documents) + 1: document d is hashes[offsets[d]:offsets[d+1]]


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: spreads nearby inputs over all 64 bits."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


# Word bytes: ASCII letters, digits and "_" (as regex ``\w``) and every non-ASCII byte.
WORD_BYTE = np.zeros(256, dtype=bool)
for _low, _high in ((48, 57), (97, 122), (95, 95), (128, 255)):
    WORD_BYTE[_low : _high + 1] = True
PRIME = np.uint64(0x100000001B3)
MAX_WORD = 64  # bytes of a word that are hashed (with its full length)


def word_hashes(texts: list[str], batch: int = 10_000) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of the lower-cased words of each text, and each text's word count.

    No Python work per word: the texts' UTF-8 bytes are split into words with a lookup
    table, and all words are hashed together one byte position at a time (longest first),
    so results do not depend on the process or on the batch a text falls in.
    """
    hashes, counts = [], []
    for first in range(0, len(texts), batch):
        encoded = [t.lower().encode() for t in texts[first : first + batch]]
        data = np.frombuffer(b"\n" + b"\n".join(encoded) + b"\n", dtype=np.uint8)
        edges = np.diff(WORD_BYTE[data].astype(np.int8))
        starts, ends = np.flatnonzero(edges == 1) + 1, np.flatnonzero(edges == -1) + 1
        length = ends - starts
        hashed = np.minimum(length, MAX_WORD).astype(np.uint8)
        order = np.argsort(MAX_WORD - hashed, kind="stable")  # longest first (radix sort)
        begin, hashed = starts[order], hashed[order]
        active = np.searchsorted(MAX_WORD - hashed, MAX_WORD - np.arange(MAX_WORD), "left")
        h = length[order].astype(np.uint64)  # the full length tells long words apart
        with np.errstate(over="ignore"):
            for k, n in enumerate(active[: hashed[0] if len(hashed) else 0]):
                h[:n] *= PRIME
                h[:n] += data[begin[:n] + k]
            h = _mix(h)
        out = np.empty_like(h)
        out[order] = h
        hashes.append(out)
        doc_ends = np.cumsum([len(e) + 1 for e in encoded])
        counts.append(np.bincount(np.searchsorted(doc_ends, starts), minlength=len(encoded)))
    if not hashes:
        return np.empty(0, np.uint64), np.empty(0, np.int64)
    return np.concatenate(hashes), np.concatenate(counts).astype(np.int64)


def shingle(texts: list[str], size: int) -> Shingles:
    """Hash the word ``size``-grams of each text (a text shorter than that is one shingle)."""
    seq, lengths = word_hashes(texts)
    short = np.flatnonzero(lengths < size)
    if len(short):  # pad short texts with zero words up to one shingle
        ends = np.cumsum(lengths)
        seq = np.insert(seq, np.repeat(ends[short], size - lengths[short]), np.uint64(0))
        lengths = np.maximum(lengths, size)
    ends = np.cumsum(lengths)
    valid = np.ones(len(seq), dtype=bool)
    if size > 1:  # a shingle may not start in the last size-1 words of a document
        valid[(ends[:, None] - np.arange(1, size)[None, :]).ravel()] = False
    starts = np.flatnonzero(valid)
    hashes = np.zeros(len(starts), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(size):  # position-dependent odd multipliers keep word order
            hashes += seq[starts + k] * np.uint64(2 * (0x9E3779B97F4A7C15 >> (k + 1)) + 1)
        hashes = _mix(hashes)
    offsets = np.concatenate([[0], np.cumsum(lengths - size + 1)])
    return Shingles(hashes, offsets)


def signatures(sh: Shingles, num_perm: int, seed: int, chunk: int = 4096) -> np.ndarray:
    """MinHash signatures, ``(documents, num_perm)`` uint32.

    Permutation i is the multiply-shift hash ``(a_i * x + b_i) >> 32`` (a_i odd): three
    in-place integer operations per shingle and permutation, on blocks of about ``chunk``
    shingles that stay in the CPU cache (16x faster than one big array).
    """
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, size=num_perm, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 2**63, size=num_perm, dtype=np.uint64)
    a, b = a[:, None], b[:, None]
    n_docs = len(sh.offsets) - 1
    out = np.empty((num_perm, n_docs), dtype=np.uint32)
    buf = np.empty((num_perm, chunk), dtype=np.uint64)
    doc = 0
    while doc < n_docs:  # whole documents, at least one, up to ``chunk`` shingles
        stop = max(int(np.searchsorted(sh.offsets, sh.offsets[doc] + chunk, "right")) - 1, doc + 1)
        lo, hi = sh.offsets[doc], sh.offsets[stop]
        h = buf[:, : hi - lo] if hi - lo <= chunk else np.empty((num_perm, hi - lo), np.uint64)
        np.multiply(a, sh.hashes[None, lo:hi], out=h)
        h += b
        h >>= np.uint64(32)
        out[:, doc:stop] = np.minimum.reduceat(h, sh.offsets[doc:stop] - lo, axis=1)
        doc = stop
    return np.ascontiguousarray(out.T)


def lsh_params(threshold: float, num_perm: int, recall_weight: float) -> tuple[int, int]:
    """(bands, rows) minimising the weighted areas of false positives and false negatives,
    as datasketch's ``MinHashLSH(weights=(1 - recall_weight, recall_weight))`` chooses them.

    Weighting recall costs little here: a false candidate only costs one exact Jaccard.
    """
    grid = np.linspace(0, 1, 1001)
    below = grid <= threshold
    best, best_err = (1, num_perm), float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            p = 1 - (1 - grid**rows) ** bands
            err = (1 - recall_weight) * np.trapezoid(
                p[below], grid[below]
            ) + recall_weight * np.trapezoid(1 - p[~below], grid[~below])
            if err < best_err:
                best, best_err = (bands, rows), err
    return best


def candidates(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """Pairs ``(i, j)``, i < j, that share at least one band: int64 array ``(n, 2)``."""
    n = len(sig)
    rng = np.random.default_rng(0)
    mult = rng.integers(1, 2**63, size=rows, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    found = []
    for band in range(bands):
        with np.errstate(over="ignore"):
            keys = (sig[:, band * rows : (band + 1) * rows].astype(np.uint64) * mult).sum(axis=1)
        order = np.argsort(keys, kind="stable")  # equal keys stay in document order
        sorted_keys = keys[order]
        new_group = np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]])
        group_start = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
        pos = np.arange(n) - group_start  # how many earlier members share this bucket
        if not pos.any():
            continue
        later = np.repeat(np.arange(n), pos)
        first = np.repeat(group_start, pos)
        step = np.arange(len(later)) - np.repeat(np.cumsum(pos) - pos, pos)
        found.append(np.stack([order[first + step], order[later]], axis=1))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    pairs = np.concatenate(found)
    codes = np.unique(pairs[:, 0] * n + pairs[:, 1])
    return np.stack([codes // n, codes % n], axis=1)


def jaccard(sh: Shingles, pairs: np.ndarray) -> np.ndarray:
    """Exact Jaccard similarity of the shingle sets of each pair."""
    sets: dict[int, np.ndarray] = {}

    def shingle_set(d: int) -> np.ndarray:
        if d not in sets:
            sets[d] = np.unique(sh.hashes[sh.offsets[d] : sh.offsets[d + 1]])
        return sets[d]

    out = np.empty(len(pairs))
    for k, (i, j) in enumerate(pairs):
        a, b = shingle_set(i), shingle_set(j)
        inter = len(np.intersect1d(a, b, assume_unique=True))
        out[k] = inter / (len(a) + len(b) - inter)
    return out


def keep_first(pairs: np.ndarray, similarity: np.ndarray, threshold: float) -> list[Pair]:
    """Drop each document that is a near-duplicate of an earlier document that is kept."""
    close = similarity >= threshold
    dropped: dict[int, Pair] = {}
    for (i, j), sim in sorted(
        zip(map(tuple, pairs[close]), similarity[close]), key=lambda item: (item[0][1], item[0][0])
    ):
        if j not in dropped and i not in dropped:
            dropped[j] = Pair(int(i), int(j), float(sim))
    return list(dropped.values())


def similar_pairs(
    texts: list[str],
    threshold: float,
    num_perm: int = 128,
    shingle_size: int = 3,
    recall_weight: float = 0.9,
    seed: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """LSH candidate pairs ``(i, j)`` with their exact Jaccard similarity."""
    sh = shingle(texts, shingle_size)
    sig = signatures(sh, num_perm, seed)
    pairs = candidates(sig, *lsh_params(threshold, num_perm, recall_weight))
    return pairs, jaccard(sh, pairs)


def near_duplicates(texts: list[str], threshold: float = 0.8, **settings) -> list[Pair]:
    """The documents to drop as near-duplicates of earlier kept ones (by list position);
    ``settings`` are those of ``similar_pairs``."""
    if len(texts) < 2:
        return []
    return keep_first(*similar_pairs(texts, threshold, **settings), threshold)
