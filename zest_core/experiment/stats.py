"""Paired comparisons of per-query scores: bootstrap intervals and randomisation p-values.

Scores come as arrays of shape (seeds, queries) (a 1-D array is one seed). Two arms are
paired by query: every resample draws the same queries for both. Generation seeds are
resampled too, independently per arm, so an interval over 3 seeds also carries the seed-to-
seed spread, not only the query sampling noise. Everything is seeded: the same scores give
the same interval.
"""

from dataclasses import dataclass

import numpy as np

RESAMPLES = 10_000
SEED = 20250630  # fixed: intervals are reproducible
BLOCK = 500  # resamples per vectorised block, bounding memory on large query sets


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    p_value: float | None = None

    @property
    def covers_zero(self) -> bool:
        return self.low <= 0 <= self.high

    def format(self, scale: float = 100, digits: int = 2) -> str:
        f = f"{{:+.{digits}f}}" if self.p_value is not None else f"{{:.{digits}f}}"
        text = (
            f"{f.format(scale * self.mean)} [{f.format(scale * self.low)},"
            f" {f.format(scale * self.high)}]"
        )
        return text if self.p_value is None else f"{text} p={self.p_value:.3g}"


def _matrix(scores) -> np.ndarray:
    array = np.asarray(scores, dtype=np.float64)
    return array[None, :] if array.ndim == 1 else array


def _resampled_means(
    rng: np.random.Generator, scores: np.ndarray, queries: np.ndarray
) -> np.ndarray:
    """Mean over resampled seeds and the given resampled queries, one per row of queries."""
    n_seeds = scores.shape[0]
    seeds = rng.integers(0, n_seeds, size=(len(queries), n_seeds))
    picked = scores[seeds[:, :, None], queries[:, None, :]]  # (block, seeds, queries)
    return picked.mean(axis=(1, 2))


def bootstrap_means(a, b=None, resamples: int = RESAMPLES, seed: int = SEED) -> np.ndarray:
    """Resampled means of ``a`` (or of ``a`` minus ``b``, paired by query)."""
    a = _matrix(a)
    b = None if b is None else _matrix(b)
    if b is not None and b.shape[1] != a.shape[1]:
        raise ValueError("paired scores need the same queries")
    # separate streams: the queries drawn do not depend on how many seeds either arm has
    query_rng, a_rng, b_rng = np.random.default_rng(seed).spawn(3)
    n = a.shape[1]
    means = []
    for start in range(0, resamples, BLOCK):
        queries = query_rng.integers(0, n, size=(min(BLOCK, resamples - start), n))
        block = _resampled_means(a_rng, a, queries)
        if b is not None:
            block = block - _resampled_means(b_rng, b, queries)
        means.append(block)
    return np.concatenate(means)


def mean_interval(scores, resamples: int = RESAMPLES, seed: int = SEED) -> Interval:
    """Mean score with a bootstrap 95% interval over queries (and seeds)."""
    means = bootstrap_means(scores, resamples=resamples, seed=seed)
    low, high = np.percentile(means, [2.5, 97.5])
    return Interval(float(_matrix(scores).mean()), float(low), float(high))


def sign_flip_p(differences, resamples: int = RESAMPLES, seed: int = SEED) -> float:
    """Two-sided paired randomisation test: how often randomly flipped signs of the
    per-query differences give a mean at least as far from zero as the observed one."""
    d = np.asarray(differences, dtype=np.float64)
    observed = abs(d.mean())
    rng = np.random.default_rng(seed)
    extreme = 0
    for start in range(0, resamples, BLOCK):
        signs = rng.choice((-1.0, 1.0), size=(min(BLOCK, resamples - start), len(d)))
        extreme += int((np.abs(signs @ d / len(d)) >= observed - 1e-12).sum())
    return (extreme + 1) / (resamples + 1)


def paired_difference(a, b, resamples: int = RESAMPLES, seed: int = SEED) -> Interval:
    """Mean of ``a`` minus ``b`` (same queries, in the same order; seeds may differ), its
    paired-bootstrap 95% interval and the sign-flip p-value of the seed-averaged
    per-query differences."""
    a, b = _matrix(a), _matrix(b)
    means = bootstrap_means(a, b, resamples, seed)
    low, high = np.percentile(means, [2.5, 97.5])
    differences = a.mean(axis=0) - b.mean(axis=0)
    return Interval(
        float(differences.mean()),
        float(low),
        float(high),
        sign_flip_p(differences, resamples, seed),
    )


def align(a: dict[str, float], b: dict[str, float]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The queries two per-query score maps share, and their scores in one order."""
    queries = sorted(set(a) & set(b))
    return queries, np.array([a[q] for q in queries]), np.array([b[q] for q in queries])


__all__ = [
    "Interval",
    "align",
    "bootstrap_means",
    "mean_interval",
    "paired_difference",
    "sign_flip_p",
]
