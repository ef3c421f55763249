"""Metrics that tell corpus versions apart: what they cost, how varied they are, and how close
their wording stays to the exemplars. Words are lower-cased ``\\w+`` runs."""

from collections.abc import Iterable
from itertools import combinations
from statistics import mean

from ..text import jaccard, ngrams, words
from .runconfig import as_run_now
from .store import Store


def distinct_n(texts: Iterable[str], n: int) -> float | None:
    """Unique n-grams over all n-grams of the texts (1.0: no phrase is ever repeated)."""
    grams = [gram for text in texts for gram in ngrams(words(text), n)]
    return len(set(grams)) / len(grams) if grams else None


def anchor_diversity(anchors: list[str]) -> float | None:
    """One minus the mean word-set Jaccard similarity of all anchor pairs (1.0: disjoint)."""
    pairs = list(combinations(anchors, 2))
    return 1 - mean(jaccard(a, b) for a, b in pairs) if pairs else None


def exemplar_vocabulary_overlap(documents: list[str], exemplars: list[str]) -> float | None:
    """Share of the exemplars' distinct words that the documents use at least once."""
    reference = {w for text in exemplars for w in words(text)}
    used = {w for text in documents for w in words(text)}
    return len(reference & used) / len(reference) if reference else None


def resolved_options(store: Store, version: dict) -> dict | None:
    """The generator options a version's documents were made with, as they resolved (a
    filtered or subset version: its nearest maker's); None for versions older than that."""
    while "options" not in version["resolved"] and version["parent_id"]:
        version = store.version(version["parent_id"])
    return as_run_now(version["resolved"]).get("options")


def differing_options(rows: list[dict]) -> list[str | None]:
    """For each ``version_metrics`` row, ``key=value`` of the resolved options on which the
    rows differ, or None when they agree: explicit and default values that resolve alike
    (``vocab=trimmed`` and ``auto`` on English exemplars) are not a difference."""
    options = [row.get("options") or {} for row in rows]
    keys = sorted({k for o in options for k in o})
    differ = [k for k in keys if len({repr(o.get(k)) for o in options}) > 1]
    shown = [", ".join(f"{k}={o.get(k, '-')}" for k in differ) for o in options]
    return shown if differ else [None] * len(rows)


def version_metrics(store: Store, ref: int | str) -> dict:
    """One version's row of ``zest compare``."""
    version = store.version(ref)
    vid = version["id"]
    docs = [d["text"] for d in store.documents(vid)]
    totals = store.totals(vid)
    seconds = version["wall_seconds"] or 0.0
    return {
        "version": vid,
        "corpus": version["corpus"],
        "status": version["status"],
        "generator": version["generator"],
        "model": version["model"],
        "options": resolved_options(store, version),
        "documents": totals["documents"],
        "target_docs": version["target_docs"],
        "completion_tokens": totals["completion_tokens"],
        "prompt_tokens": totals["prompt_tokens"],
        "wall_seconds": seconds,
        "tokens_per_second": totals["completion_tokens"] / seconds if seconds else None,
        "anchors": len(anchors := [a["text"] for a in store.anchors(vid)]),
        "anchor_diversity": anchor_diversity(anchors),
        "distinct_1": distinct_n(docs, 1),
        "distinct_2": distinct_n(docs, 2),
        "exemplar_vocabulary_overlap": exemplar_vocabulary_overlap(
            docs, [e["text"] for e in store.exemplars(vid)]
        ),
        "mean_document_words": mean(len(words(d)) for d in docs) if docs else None,
    }
