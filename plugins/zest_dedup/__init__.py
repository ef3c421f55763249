"""zest plugin: ``exact-dedup``, ``near-dedup`` and ``embedding-dedup`` filters.

Small models repeat themselves across documents; each filter keeps the first document (by
plan ordinal) of each group of duplicates and drops the later ones.
"""

import hashlib

import numpy as np

from zest_core import Drop, Filter, Option, get_encoder, hookimpl, words

from .minhash import keep_first, near_duplicates


def normalised(text: str) -> str:
    """Lower-case words joined by single spaces: case, spacing and punctuation do not count."""
    return " ".join(words(text))


class ExactDedup(Filter):
    name = "exact-dedup"

    def drops(self, documents, exemplars):
        first: dict[str, int] = {}
        for doc in documents:
            key = hashlib.sha256(normalised(doc["text"]).encode()).hexdigest()
            if key in first:
                yield Drop(
                    doc["id"], "exact-duplicate", f"same normalised text as document {first[key]}"
                )
            else:
                first[key] = doc["ordinal"]


class NearDedup(Filter):
    """MinHash + LSH over word shingles, candidates verified by exact Jaccard similarity."""

    name = "near-dedup"
    options = {
        "threshold": Option(
            0.8,
            float,
            "Jaccard similarity of two documents' shingle sets at which the later one is a copy.",
            min=0.01,
            max=1,
        ),
        "shingle": Option(3, int, "Words per shingle.", min=1),
        "num_perm": Option(
            128,
            int,
            "MinHash permutations: more finds pairs near the threshold more reliably, slower.",
            min=2,
            max=1024,
        ),
        "recall_weight": Option(
            0.9,
            float,
            "How LSH bands are chosen: weight of missed pairs"
            " against candidate pairs checked in vain.",
            min=0,
            max=1,
        ),
        "seed": Option(1, int, "Seed of the MinHash permutations."),
    }

    def drops(self, documents, exemplars):
        s = self.options
        pairs = near_duplicates(
            [doc["text"] for doc in documents],
            s["threshold"],
            num_perm=s["num_perm"],
            shingle_size=s["shingle"],
            recall_weight=s["recall_weight"],
            seed=s["seed"],
        )
        for pair in pairs:
            kept = documents[pair.kept]["ordinal"]
            yield Drop(
                documents[pair.later]["id"],
                "near-duplicate",
                f"Jaccard {pair.similarity:.2f} with document {kept}",
            )


class EmbeddingDedup(Filter):
    """Drops a document whose embedding is within a cosine threshold of a kept one: catches
    paraphrases that share too few word shingles for ``near-dedup``."""

    name = "embedding-dedup"
    options = {
        "threshold": Option(
            0.95,
            float,
            "Cosine similarity at which the later document is a paraphrase of an earlier one.",
            min=-1,
            max=1,
        ),
        "encoder": Option(
            "dense", str, "Encoder plugin that embeds the documents (see: zest plugins)."
        ),
        "model": Option("", str, "The encoder's model (empty: its default)."),
        "block": Option(
            1024,
            int,
            "Rows of the similarity matrix computed at a time (memory: block x documents floats).",
            min=1,
        ),
    }

    def drops(self, documents, exemplars):
        if len(documents) < 2:
            return
        s = self.options
        encoder = get_encoder(s["encoder"])(s["model"] or None)
        try:
            vectors = np.asarray(encoder.embed_documents([doc["text"] for doc in documents]))
        finally:
            encoder.close()
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        pairs, sims = [], []
        for start in range(0, len(vectors), s["block"]):
            block = vectors[start : start + s["block"]] @ vectors.T
            rows, cols = np.nonzero(block >= s["threshold"])
            later = cols > rows + start
            pairs.append(np.stack([rows[later] + start, cols[later]], axis=1))
            sims.append(block[rows[later], cols[later]])
        for pair in keep_first(np.concatenate(pairs), np.concatenate(sims), s["threshold"]):
            kept = documents[pair.kept]["ordinal"]
            yield Drop(
                documents[pair.later]["id"],
                "embedding-duplicate",
                f"cosine {pair.similarity:.3f} with document {kept}",
            )


@hookimpl
def register_filters(register):
    register(ExactDedup)
    register(NearDedup)
    register(EmbeddingDedup)
