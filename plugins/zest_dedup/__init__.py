"""zest plugin: ``exact-dedup`` and ``near-dedup`` filters.

Small models repeat themselves across documents; both filters keep the first document (by
plan ordinal) of each group of duplicates and drop the later ones.
"""

import hashlib

from zest_core import hookimpl
from zest_core.filtering import Drop, Filter

from .minhash import near_duplicates, tokens


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
                       f"Jaccard {pair.jaccard:.2f} with document {kept}")


@hookimpl
def register_filters(register):
    register(ExactDedup)
    register(NearDedup)
