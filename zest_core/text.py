"""Word-level text helpers shared by strategies, filters and metrics.

Words are the lower-cased ``\\w+`` runs of a text, so case and punctuation never count.
"""

import itertools
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


def first_words(text: str, limit: int) -> str:
    """The first ``limit`` words, found without splitting the whole text: a prompt costs the
    same for a 50 MB exemplar as for a short one."""
    return " ".join(m.group() for m in itertools.islice(re.finditer(r"\S+", text), limit))


def title(document: dict) -> str:
    """A document's title, or its first sentence (at most 16 words) when it has none."""
    if document.get("title"):
        return document["title"]
    head = first_words(document["text"], 16)
    end = re.search(r"[.!?](\s|$)", head)
    return head[: end.start() + 1] if end else head
