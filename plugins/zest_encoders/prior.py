"""Generic English as a prior on a context's document frequencies.

A synthetic context of a few hundred documents never uses most words; plain BM25 then gives
every unseen word the maximum IDF, so a query's "using" or "effect" outweighs its one
domain term. With the prior, generic English counts as ``strength`` extra pseudo-documents:
a term ``t`` with word frequency ``f(t)`` (``wordfreq.word_frequency(t, "en")``, offline)
occurs in such a document of ``L`` counted words with probability ``1 - exp(-f(t) * L)``,
``p(t)`` below, so

    df'(t) = df(t) + strength * p(t)        N' = N + strength

with ``L`` the context's mean document length (terms counted as BM25 counts them). Rare
words keep a high IDF; common words the context happened to miss no longer get the maximum.
"""

import numpy as np

from zest_core import require


def smoothed(
    terms: list[str], df: np.ndarray, n_docs: float, avgdl: float, strength: float
) -> tuple[np.ndarray, float]:
    """``(df', N')`` for ``terms`` as in the module docstring."""
    # word_frequency's own cache makes repeated terms free
    wordfreq = require("wordfreq", "embed", by="hybrid option prior=wordfreq")
    f = np.array([wordfreq.word_frequency(term, "en") for term in terms])
    return df + strength * -np.expm1(-f * avgdl), n_docs + strength
