"""The ``echo`` generator: new text from the exemplar sentences in its prompt, without a model.

The strategy's prompt holds the exemplars, laid out by its templates. Drawing their sentences
with the request's seed makes every completion reproducible, which is what ``zest run
--resume`` relies on: a resumed run asks again with the same seeds.
"""

import random
import re

from zest_core import Completion, Generator, Option, Request

# Templates lay exemplars out as labelled lines ("Title: ...", "Text: ..."); the header and
# the "Document N" lines carry no label, so they are never echoed.
LABELLED = re.compile(r"^[ \t]*\w+:[ \t]*(.+)$", re.MULTILINE)
# A sentence ends at . ! or ? followed by a space: "45.9%" and "p<0.05" stay whole.
BOUNDARY = re.compile(r"(?<=[.!?])\s+")


def sentences(text: str) -> list[str]:
    """The complete sentences of a text (a trailing fragment is not one), spacing collapsed."""
    pieces = (" ".join(piece.split()) for piece in BOUNDARY.split(text))
    return [p for p in pieces if p.endswith((".", "!", "?")) and any(c.isalpha() for c in p)]


def prompt_sentences(prompt: str) -> list[str]:
    """The sentences of the prompt's labelled lines: the exemplars' titles and texts."""
    return [s for line in LABELLED.findall(prompt) for s in sentences(line)]


class Echo(Generator):
    """Recombines the prompt's sentences in an order drawn from the request's seed."""

    name = "echo"
    options = {
        "sentences": Option(3, int, "sentences per completion, drawn with replacement", min=1),
        "max_words": Option(24, int, "draw only sentences of at most this many words", min=2),
        "order": Option(
            "seeded",
            str,
            "seeded: drawn with the request's seed; prompt: in the prompt's order",
            choices=("seeded", "prompt"),
        ),
    }

    def complete(self, request: Request) -> Completion:
        n, most = self.options["sentences"], self.options["max_words"]
        found = prompt_sentences(request.prompt) or ["Nothing to echo."]
        short = [s for s in found if len(s.split()) <= most]
        # Anchors must be short (the hierarchical strategy rejects more than 24 words); when
        # no sentence is short enough, cut them all rather than fail.
        found = short or [" ".join(s.split()[:most]) for s in found]
        if self.options["order"] == "seeded":
            picked = random.Random(request.seed).choices(found, k=n)
        else:
            picked = [found[i % len(found)] for i in range(n)]
        words = " ".join(picked).split()
        # Honour the request like a model would: at most max_tokens words, cut at a stop.
        finish = "length" if len(words) > request.max_tokens else "stop"
        text = " " + " ".join(words[: request.max_tokens])
        for stop in request.stop:
            text = text.split(stop, 1)[0]
        return Completion(
            text=text,
            prompt_tokens=len(request.prompt.split()),
            completion_tokens=len(text.split()),
            finish_reason=finish,
        )
