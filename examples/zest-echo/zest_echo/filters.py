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
        "unit": Option(
            "sentence",
            str,
            "what is counted: sentences or non-empty lines",
            choices=("sentence", "line"),
        ),
    }

    def drops(self, documents, exemplars):
        limit = self.options["max_repeats"]
        for doc in documents:
            units = (
                sentences(doc["text"])
                if self.options["unit"] == "sentence"
                else [line.strip() for line in doc["text"].splitlines() if line.strip()]
            )
            counts = Counter(units).most_common(1)
            if counts and counts[0][1] > limit:
                unit, times = counts[0]
                yield Drop(
                    doc["id"],
                    f"repeated-{self.options['unit']}",
                    f"{times} times (max_repeats={limit}): {unit[:60]!r}",
                )
