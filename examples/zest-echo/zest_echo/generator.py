"""The ``echo`` generator: new text from the sentences of its own prompt, without a model.

The strategy's prompt holds the exemplars, so the sentences found in it are the exemplars'
sentences. Drawing them with the request's seed makes every completion reproducible, which is
what ``zest run --resume`` relies on: a resumed run asks again with the same seeds.
"""

import random
import re

from zest_core import Completion, Generator, Option, Request

# A template's field labels ("Title: ", "Text: ") start a line; they are not part of a sentence.
LABEL = re.compile(r"^[ \t]*\w+:[ \t]*", re.MULTILINE)
SENTENCE = re.compile(r"[^.!?\n]*\w[^.!?\n]*[.!?]")


def sentences(text: str) -> list[str]:
    """The sentences of a text, each with its spacing collapsed."""
    return [" ".join(s.split()) for s in SENTENCE.findall(LABEL.sub("", text))]


class Echo(Generator):
    """Recombines the prompt's sentences in an order drawn from the request's seed."""

    name = "echo"
    options = {
        "sentences": Option(
            3, int, "sentences per completion, drawn with replacement", min=1, max=100
        ),
        "max_words": Option(
            24,
            int,
            "only sentences of at most this many words are drawn"
            " (all, cut to it, when none is that short)",
            min=2,
        ),
        "order": Option(
            "seeded",
            str,
            "seeded: draw sentences with the request's seed;"
            " prompt: take them in the prompt's order",
            choices=("seeded", "prompt"),
        ),
    }

    def complete(self, request: Request) -> Completion:
        n, most = self.options["sentences"], self.options["max_words"]
        found = sentences(request.prompt) or ["Nothing to echo."]
        short = [s for s in found if len(s.split()) <= most]
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
