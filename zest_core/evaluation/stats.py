"""Paired comparisons of per-query scores: bootstrap intervals and randomisation p-values.

Scores come as arrays of shape (seeds, queries) (a 1-D array is one seed). Two arms are
always paired by query: every resample draws the same queries for both. Generation seeds are
resampled too, so an interval over 3 seeds also carries the seed-to-seed spread, not only the
query sampling noise, and how depends on the arms:

- *seed-paired* (row i of both arms comes from the same generation seed, e.g. the synthetic
  context of seed s and the model adapted on it): one seed draw serves both arms, so the
  spread between seeds, shared by both, cancels within each seed as it does in the data;
- otherwise (an arm without seeds, such as ``none`` or ``real:512``, or different seeds):
  each arm's seeds are drawn independently, and the interval carries both arms' spread.

Drawing the seeds of seed-paired arms independently would add back the spread that cancels
(issue #36): an interval too wide, never a wrong sign. Everything is seeded: the same scores
give the same interval.
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
    seed_paired: bool = False  # a difference whose seeds were drawn once for both arms

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


def bootstrap_means(
    a, b=None, resamples: int = RESAMPLES, seed: int = SEED, seed_paired: bool = False
) -> np.ndarray:
    """Resampled means of ``a`` (or of ``a`` minus ``b``, paired by query; by seed too when
    ``seed_paired``: row i of both is the same generation seed)."""
    a = _matrix(a)
    b = None if b is None else _matrix(b)
    if b is not None and b.shape[1] != a.shape[1]:
        raise ValueError("paired scores need the same queries")
    if seed_paired:
        if b is None or b.shape != a.shape:
            raise ValueError("seed-paired scores need the same seeds on both sides")
        a, b = a - b, None  # one seed and one query draw for both: the mean of the differences
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


def paired_difference(
    a, b, resamples: int = RESAMPLES, seed: int = SEED, seed_paired: bool = False
) -> Interval:
    """Mean of ``a`` minus ``b`` (same queries, in the same order), its paired-bootstrap 95%
    interval and the sign-flip p-value of the seed-averaged per-query differences.

    ``seed_paired``: row i of ``a`` and of ``b`` come from the same generation seed (same
    number of rows, in one order), so each resample draws one set of seeds for both; without
    it the seeds may differ and each arm's are drawn on their own. The sign-flip test takes
    the per-query differences averaged over the seeds either way (over the shared seeds when
    paired: the mean of a minus b per query)."""
    a, b = _matrix(a), _matrix(b)
    means = bootstrap_means(a, b, resamples, seed, seed_paired)
    low, high = np.percentile(means, [2.5, 97.5])
    differences = a.mean(axis=0) - b.mean(axis=0)
    return Interval(
        float(differences.mean()),
        float(low),
        float(high),
        sign_flip_p(differences, resamples, seed),
        seed_paired,
    )


def seed_pairing(a_keys: list, b_keys: list) -> list[int] | None:
    """Whether two arms are seed-paired, from one generation key per row (e.g. (seed, base
    version); None for a row without a seed): the rows of ``b`` in the order of ``a``'s keys
    when both have the same keys, each once and none missing; None (draw each arm's seeds on
    its own) otherwise."""
    if None in a_keys or None in b_keys or len(set(a_keys)) != len(a_keys):
        return None
    if len(a_keys) != len(b_keys) or set(a_keys) != set(b_keys):
        return None
    return [b_keys.index(key) for key in a_keys]


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
    "seed_pairing",
    "sign_flip_p",
]
