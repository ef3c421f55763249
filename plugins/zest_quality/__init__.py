"""zest plugin: the ``quality`` filter, simple rules against what small local models get wrong.

Small models stop mid-sentence, loop over the same phrase, emit tables of symbols, or copy
their exemplars. Each rule is one number with a documented default; a document is dropped for
the first rule it breaks, in this order: too-short, too-long, truncated, non-alphabetic,
repetitive, exemplar-echo.
"""

import re

from zest_core import hookimpl
from zest_core.filtering import Drop, Filter

WORD = re.compile(r"\w+")
# What a finished sentence (or a closing quote/bracket after one) ends with.
ENDINGS = tuple('.!?)]"\'”’')


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def repetition(tokens: list[str], n: int) -> float:
    """Share of the word n-grams that repeat an earlier one (0 for no loops)."""
    grams = ngrams(tokens, n)
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def non_alpha(text: str) -> float:
    """Share of the non-space characters that are not letters."""
    chars = [c for c in text if not c.isspace()]
    return sum(not c.isalpha() for c in chars) / len(chars) if chars else 1.0


class Quality(Filter):
    name = "quality"
    defaults = {
        "min_words": 20,  # shorter is a stub or a failed generation
        "max_words": 2000,  # longer is a run-on generation
        "ngram": 3,  # word n-gram size of the repetition rule
        "max_repetition": 0.3,  # share of repeated word n-grams
        "max_non_alpha": 0.3,  # share of non-space characters that are not letters
        "require_ending": True,  # drop text that stops mid-sentence or hit the token limit
        "echo_words": 12,  # a span of this many words copied from an exemplar is an echo
    }
    bounds = {"min_words": (0, None), "max_words": (1, None), "ngram": (1, None),
              "max_repetition": (0.0, 1.0), "max_non_alpha": (0.0, 1.0), "echo_words": (1, None)}

    def drops(self, documents, exemplars):
        span = self.settings["echo_words"]
        echoes = {gram: e["ordinal"] for e in exemplars for gram in ngrams(words(e["text"]), span)}
        for doc in documents:
            reason = self.check(doc, echoes)
            if reason:
                yield Drop(doc["id"], *reason)

    def check(self, doc: dict, echoes: dict) -> tuple[str, str] | None:
        """The first rule this document breaks, as ``(reason, detail)``, or None."""
        s = self.settings
        text = doc["text"].strip()
        tokens = words(text)
        if len(tokens) < s["min_words"]:
            return "too-short", f"{len(tokens)} words < min_words={s['min_words']}"
        if len(tokens) > s["max_words"]:
            return "too-long", f"{len(tokens)} words > max_words={s['max_words']}"
        if s["require_ending"]:
            if doc.get("finish_reason") == "length":
                return "truncated", "generation hit its token limit"
            if not text.endswith(ENDINGS):
                return "truncated", f"ends with {text[-20:]!r}"
        share = non_alpha(text)
        if share > s["max_non_alpha"]:
            return "non-alphabetic", (f"{share:.2f} of characters"
                                      f" > max_non_alpha={s['max_non_alpha']}")
        ratio = repetition(tokens, s["ngram"])
        if ratio > s["max_repetition"]:
            return "repetitive", (f"{ratio:.2f} of word {s['ngram']}-grams repeated"
                                  f" > max_repetition={s['max_repetition']}")
        for gram in ngrams(tokens, s["echo_words"]):
            if gram in echoes:
                return "exemplar-echo", (f"copies {s['echo_words']}+ words of exemplar"
                                         f" {echoes[gram]}: {' '.join(gram)!r}")
        return None


@hookimpl
def register_filters(register):
    register(Quality)
