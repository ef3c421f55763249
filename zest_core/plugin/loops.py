"""Stop a text that has started repeating itself.

A small model that loops keeps writing until its token limit, and the quality filter then
throws the whole document away: every token after the loop began is wasted. ``LoopCheck``
watches a growing sequence (token ids inside a decode loop, or words of a streamed text) and
says when its last ``ngram`` items have occurred ``repeats`` times in it. An exact loop of
period p is caught ``ngram + (repeats - 1) * p`` items after it starts; a phrase that merely
recurs, as legitimate writing does now and then, needs to come back ``repeats`` times whole.

``cut`` is where the repetition began: after the first copy of an exact cycle (found by
walking back while the tail stays periodic), or at the recurring n-gram's second occurrence,
whichever comes first. Generators keep the text up to there, ended at its last full sentence
(``last_sentence_end``), so a document that looped ends where it was still new instead of
halfway through a copy, and can pass the quality filter.
"""

import re
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field

# Defaults for token ids. Real abstracts do repeat token spans three times, nearly always in
# statistics whose digits are one token each ("(95% CI, 0."): of the 5,183 SciFact and 3,633
# NFCorpus abstracts, 65 and 66 trip 12 tokens x 3, 6 and 7 trip 20 x 3 (docs/context-quality.md).
NGRAM = 20
REPEATS = 3


@dataclass
class LoopCheck:
    """Feed items one at a time with ``add``; it returns True once the sequence loops."""

    ngram: int = NGRAM
    repeats: int = REPEATS
    items: list = field(default_factory=list)
    #: Index in ``items`` where the repetition began, once a loop is found.
    cut: int | None = None
    _first: dict = field(default_factory=dict)  # n-gram -> [start of each occurrence]

    def __post_init__(self):
        if self.ngram < 1 or self.repeats < 2:
            raise ValueError("a loop check needs ngram >= 1 and repeats >= 2")

    def add(self, item: Hashable) -> bool:
        if self.cut is not None:
            return True
        self.items.append(item)
        if len(self.items) < self.ngram:
            return False
        start = len(self.items) - self.ngram
        seen = self._first.setdefault(tuple(self.items[start:]), [])
        seen.append(start)
        if len(seen) >= self.repeats:
            self.cut = min(seen[1], self._cycle_start(seen[-1] - seen[-2]))
            return True
        return False

    def _cycle_start(self, period: int) -> int:
        """Where the periodic tail of ``items`` began, plus one period (one copy kept)."""
        items, i = self.items, len(self.items) - period - 1
        while i >= 0 and items[i] == items[i + period]:
            i -= 1
        return i + 1 + period

    def extend(self, items: Iterable[Hashable]) -> bool:
        """Add items until the sequence loops; True when it does."""
        return any(self.add(item) for item in items)


def last_sentence_end(text: str) -> str:
    """``text`` up to its last full sentence (a cut rarely falls on one), or whole when it
    has none: the quality filter drops a document that stops mid-sentence."""
    ends = list(re.finditer(r"[.!?][\"')\]]?(?=\s|$)", text))
    return text[: ends[-1].end()] if ends else text


# A sentence ends with . ! or ?, a closing quote or bracket may follow; the same ends as
# last_sentence_end's, on the bytes a decoder accumulates.
_SENTENCE_END = re.compile(rb"[.!?][\"')\]]?$")


def starts_sentence(before: bytes, piece: bytes) -> bool:
    """True when the token ``piece`` begins a new sentence after the text ``before``.

    What a decoder asks once a document is long enough (the llama.cpp generator's
    ``end_after``): waiting for the white space that follows the full stop keeps "3.5",
    "0.05" and ".NET" whole, which a check of ``before`` alone would cut."""
    return piece[:1].isspace() and bool(_SENTENCE_END.search(before))


def loop_cut(text: str, ngram: int = 12, repeats: int = REPEATS) -> int | None:
    """The character offset where ``text`` starts repeating itself (words as items: no real
    SciFact or NFCorpus abstract trips 12 words x 3; 27 and 34 trip 8 x 3), or None when it
    does not loop. For generators that receive text rather than token ids."""
    matches = list(re.finditer(r"\w+", text.lower()))
    check = LoopCheck(ngram, repeats)
    if not check.extend(m.group() for m in matches):
        return None
    return matches[check.cut].start()


__all__ = ["LoopCheck", "last_sentence_end", "loop_cut"]
