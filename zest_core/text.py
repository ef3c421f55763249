"""Word-level text helpers shared by strategies, filters and metrics.

Words are the lower-cased ``\\w+`` runs of a text, so case and punctuation never count.
"""

import re

WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    """Every run of ``n`` consecutive tokens, in order (none when there are fewer)."""
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def jaccard(a: str, b: str) -> float:
    """Jaccard similarity of the two texts' word sets (1.0 for two texts without words)."""
    x, y = set(words(a)), set(words(b))
    return len(x & y) / len(x | y) if x | y else 1.0


def title(document: dict) -> str:
    """A document's title, or its first sentence (at most 16 words) when it has none."""
    if document.get("title"):
        return document["title"]
    first = re.split(r"(?<=[.!?])\s", document["text"], maxsplit=1)[0]
    return " ".join(first.split()[:16])
