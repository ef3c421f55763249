"""zest plugin: ``exact-dedup``, ``near-dedup`` and ``embedding-dedup`` filters.

Small models repeat themselves across documents; each filter keeps the first document (by
plan ordinal) of each group of duplicates and drops the later ones.
"""

import hashlib
import re

import numpy as np

from zest_core import hookimpl
from zest_core.filtering import Drop, Filter
from zest_core.plugins import get_encoder

from .minhash import keep_first, near_duplicates

WORD = re.compile(r"\w+")


def tokens(text: str) -> list[str]:
    return WORD.findall(text.lower())


def normalised(text: str) -> str:
    """Lower-case words joined by single spaces: case, spacing and punctuation do not count."""
    return " ".join(tokens(text))


class ExactDedup(Filter):
    name = "exact-dedup"

    def drops(self, documents, exemplars):
        first: dict[str, int] = {}
        for doc in documents:
            key = hashlib.sha256(normalised(doc["text"]).encode()).hexdigest()
            if key in first:
                yield Drop(doc["id"], "exact-duplicate",
                           f"same normalised text as document {first[key]}")
            else:
                first[key] = doc["ordinal"]


class NearDedup(Filter):
    """MinHash + LSH over word shingles, candidates verified by exact Jaccard similarity."""

    name = "near-dedup"
    defaults = {
        "threshold": 0.8,  # Jaccard similarity of shingle sets at which a document is a copy
        "shingle": 3,  # words per shingle
        "num_perm": 128,  # MinHash permutations
        "recall_weight": 0.9,  # LSH band choice: weight of false negatives vs. false positives
        "seed": 1,
    }
    bounds = {"threshold": (0.01, 1.0), "shingle": (1, None), "num_perm": (2, 1024),
              "recall_weight": (0.0, 1.0)}

    def drops(self, documents, exemplars):
        s = self.settings
        pairs = near_duplicates([doc["text"] for doc in documents], s["threshold"],
                                num_perm=s["num_perm"], shingle_size=s["shingle"],
                                recall_weight=s["recall_weight"], seed=s["seed"])
        for pair in pairs:
            kept = documents[pair.kept]["ordinal"]
            yield Drop(documents[pair.later]["id"], "near-duplicate",
                       f"Jaccard {pair.similarity:.2f} with document {kept}")


class EmbeddingDedup(Filter):
    """Drops a document whose embedding is within a cosine threshold of a kept one: catches
    paraphrases that share too few word shingles for ``near-dedup``."""

    name = "embedding-dedup"
    defaults = {
        "threshold": 0.95,  # cosine similarity at which a document is a paraphrase
        "encoder": "dense",  # an encoder plugin (zest plugins lists them)
        "model": "",  # the encoder's model; empty: its default
        "block": 1024,  # rows of the similarity matrix computed at a time
    }
    bounds = {"threshold": (-1.0, 1.0), "block": (1, None)}

    def drops(self, documents, exemplars):
        if len(documents) < 2:
            return
        s = self.settings
        encoder = get_encoder(s["encoder"])(s["model"] or None)
        try:
            vectors = np.asarray(encoder.embed_documents([doc["text"] for doc in documents]))
        finally:
            encoder.close()
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        pairs, sims = [], []
        for start in range(0, len(vectors), s["block"]):
            block = vectors[start:start + s["block"]] @ vectors.T
            rows, cols = np.nonzero(block >= s["threshold"])
            later = cols > rows + start
            pairs.append(np.stack([rows[later] + start, cols[later]], axis=1))
            sims.append(block[rows[later], cols[later]])
        for pair in keep_first(np.concatenate(pairs), np.concatenate(sims), s["threshold"]):
            kept = documents[pair.kept]["ordinal"]
            yield Drop(documents[pair.later]["id"], "embedding-duplicate",
                       f"cosine {pair.similarity:.3f} with document {kept}")


@hookimpl
def register_filters(register):
    register(ExactDedup)
    register(NearDedup)
    register(EmbeddingDedup)
