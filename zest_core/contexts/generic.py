"""The honest context-agnostic baseline: English word statistics with no domain data.

An encoder with a BM25 side and no context weighs every term the same, which BM25 never does, so
"better than no context" would credit any context with IDF itself. The ``generic`` context
is documents of words drawn from wordfreq's general English frequency list: it gives the
encoder ordinary IDF and document lengths, and nothing of the target domain.
"""

import numpy as np

from ..deps import install_hint
from ..errors import ZestError
from .encoding import Context

VOCABULARY = 30_000  # the most frequent English words; rarer ones barely move IDF
WORDS_PER_DOCUMENT = 200  # about a scientific abstract
DEFAULT_DOCUMENTS = 512  # the size of the real and synthetic contexts


def generic_context(spec: str = "generic", seed: int = 0) -> Context:
    """``generic`` or ``generic:N``: N seeded documents of words drawn by English frequency."""
    size = spec.partition(":")[2] or str(DEFAULT_DOCUMENTS)
    if not size.isdigit() or int(size) < 1:
        raise ZestError(f"context {spec!r}: expected generic or generic:N")
    try:
        from wordfreq import get_frequency_dict
    except ImportError:
        raise ZestError(
            f"the generic context needs the wordfreq package ({install_hint('experiment')})"
        ) from None
    frequencies = get_frequency_dict("en")
    words = sorted(frequencies, key=frequencies.get, reverse=True)[:VOCABULARY]
    weights = np.array([frequencies[w] for w in words])
    picks = np.random.default_rng(seed).choice(
        len(words), size=(int(size), WORDS_PER_DOCUMENT), p=weights / weights.sum()
    )
    documents = tuple(" ".join(words[i] for i in row) for row in picks)
    return Context(spec, f"generic (English word frequencies, {size} docs, seed {seed})", documents)
