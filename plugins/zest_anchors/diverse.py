"""How close a candidate anchor is to the topics already covered (exemplar titles and the
anchors drawn so far), for the ``diverse`` strategy.

``embedding``: cosine similarity of all-MiniLM-L6-v2 vectors (the dense encoder plugin);
``jaccard``: word-set Jaccard similarity over content words, taken as the words of four or
more letters (short words are mostly function words, and no stop list is needed). ``auto``
takes the embedding when the encoder's packages are installed.
"""

from collections.abc import Callable

import numpy as np

from zest_core import ZestError, install_hint, words

MODES = ("auto", "embedding", "jaccard")
#: Default thresholds: a candidate closer than this to a covered topic is passed over.
THRESHOLDS = {"embedding": 0.6, "jaccard": 0.25}

Similarity = Callable[[list[str], list[str]], np.ndarray]


def content_words(text: str) -> set[str]:
    return {w for w in words(text) if len(w) >= 4}


def jaccard_similarity(a: list[str], b: list[str]) -> np.ndarray:
    sets_a, sets_b = [content_words(t) for t in a], [content_words(t) for t in b]
    return np.array(
        [[len(x & y) / len(x | y) if x | y else 1.0 for y in sets_b] for x in sets_a]
    ).reshape(len(a), len(b))


class EmbeddingSimilarity:
    """Cosine similarity with the dense encoder; each text is embedded once."""

    def __init__(self):
        import sentence_transformers  # noqa: F401  (ImportError: fall back or say so)

        from zest_core import get_encoder

        self.encoder = get_encoder("dense")()
        self.vectors: dict[str, np.ndarray] = {}

    def __call__(self, a: list[str], b: list[str]) -> np.ndarray:
        new = [t for t in dict.fromkeys(a + b) if t not in self.vectors]
        if new:
            self.vectors.update(zip(new, self.encoder.embed_documents(new)))
        if not a or not b:
            return np.zeros((len(a), len(b)))
        return np.stack([self.vectors[t] for t in a]) @ np.stack([self.vectors[t] for t in b]).T


def similarity(mode: str) -> tuple[str, Similarity]:
    """The mode actually used and its similarity function."""
    if mode not in MODES:
        raise ZestError(
            f"templates: [anchor] diverse = {mode!r}; expected one of {', '.join(MODES)}"
        )
    if mode in ("auto", "embedding"):
        try:
            return "embedding", EmbeddingSimilarity()
        except (ImportError, ZestError):
            if mode == "embedding":
                raise ZestError(
                    f'diverse = "embedding" needs the dense encoder ({install_hint("embed")});'
                    ' or use "jaccard"'
                ) from None
    return "jaccard", jaccard_similarity
