"""The ``repeats`` filter: drops documents that say the same sentence (or line) too often."""

from collections import Counter

from zest_core import Drop, Filter, Option

from .generator import sentences


class Repeats(Filter):
    """Small models loop, and the echo generator draws sentences with replacement: both write
    documents in which one sentence comes back. This filter drops them."""

    name = "repeats"
    options = {
        "max_repeats": Option(1, int, "how often one unit may occur in a document", min=1),
        "unit": Option("sentence", str, "what is counted", choices=("sentence", "line")),
    }

    def drops(self, documents, exemplars):
        limit, unit = self.options["max_repeats"], self.options["unit"]
        for doc in documents:
            counts = Counter(units(doc["text"], unit)).most_common(1)
            if counts and counts[0][1] > limit:
                text, times = counts[0]
                detail = f"{times} times (max_repeats={limit}): {text[:60]!r}"
                yield Drop(doc["id"], f"repeated-{unit}", detail)


def units(text: str, unit: str) -> list[str]:
    """The text's sentences, or its non-empty lines."""
    if unit == "sentence":
        return sentences(text)
    return [line.strip() for line in text.splitlines() if line.strip()]
