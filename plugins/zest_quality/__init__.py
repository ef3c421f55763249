"""zest plugin: the ``quality`` filter, simple rules against what small local models get wrong.

Small models stop mid-sentence, loop over the same phrase, emit tables of symbols, or copy
their exemplars. Each rule is one number with a documented default; a document is dropped for
the first rule it breaks, in this order: too-short, too-long, truncated, non-alphabetic,
repetitive, exemplar-echo.
"""

from zest_core import Drop, Filter, Option, hookimpl, ngrams, words

# What a finished sentence (or a closing quote/bracket after one) ends with.
ENDINGS = tuple(".!?)]\"'”’")


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
    options = {
        "min_words": Option(
            20, int, "Fewer words than this is a stub or a failed generation (too-short).", min=0
        ),
        "max_words": Option(
            2000, int, "More words than this is a run-on generation (too-long).", min=1
        ),
        "ngram": Option(3, int, "Word n-gram size of the repetition rule.", min=1),
        "max_repetition": Option(
            0.3,
            float,
            "Largest share of word n-grams that repeat an earlier one (repetitive).",
            min=0,
            max=1,
        ),
        "max_non_alpha": Option(
            0.3,
            float,
            "Largest share of non-space characters that are not"
            " letters (non-alphabetic: tables, symbols, code).",
            min=0,
            max=1,
        ),
        "require_ending": Option(
            True, bool, "Drop text that hit the token limit or stops mid-sentence (truncated)."
        ),
        "echo_words": Option(
            12,
            int,
            "A span of this many words copied from an exemplar is an echo (exemplar-echo).",
            min=1,
        ),
    }

    def drops(self, documents, exemplars):
        span = self.options["echo_words"]
        echoes = {gram: e["ordinal"] for e in exemplars for gram in ngrams(words(e["text"]), span)}
        for doc in documents:
            reason = self.check(doc, echoes)
            if reason:
                yield Drop(doc["id"], *reason)

    def check(self, doc: dict, echoes: dict) -> tuple[str, str] | None:
        """The first rule this document breaks, as ``(reason, detail)``, or None."""
        s = self.options
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
            return "non-alphabetic", (
                f"{share:.2f} of characters > max_non_alpha={s['max_non_alpha']}"
            )
        ratio = repetition(tokens, s["ngram"])
        if ratio > s["max_repetition"]:
            return "repetitive", (
                f"{ratio:.2f} of word {s['ngram']}-grams repeated"
                f" > max_repetition={s['max_repetition']}"
            )
        for gram in ngrams(tokens, s["echo_words"]):
            if gram in echoes:
                return "exemplar-echo", (
                    f"copies {s['echo_words']}+ words of exemplar"
                    f" {echoes[gram]}: {' '.join(gram)!r}"
                )
        return None


@hookimpl
def register_filters(register):
    register(Quality)
