"""Anchor strategies: ``hierarchical`` (ZEST: anchors first, then documents) and ``direct``."""

import random
import re
from pathlib import Path

from zest_core import ZestError, hookimpl
from zest_core.strategy import AnchorStrategy, derive_seed
from zest_core.text import jaccard, title, words

TEMPLATES = Path(__file__).parent / "templates"


@hookimpl
def register_anchor_strategies(register):
    register(Hierarchical)
    register(Direct)


def clean_anchor(text: str) -> str:
    """First line, first sentence, without list markers, quotes or a closing full stop."""
    line = text.strip().split("\n", 1)[0]
    line = re.split(r"(?<=[.!?])\s", line, maxsplit=1)[0]
    line = re.sub(r"^[\s\-*#>\d.)]+", "", line)
    return line.strip(" \"'`*").rstrip(".").strip()


class Hierarchical(AnchorStrategy):
    """Short domain anchors, each sampled independently and kept only when it is new, then
    every anchor expanded into its share of the documents."""

    name = "hierarchical"
    default_templates = TEMPLATES / "hierarchical.toml"

    def make_anchors(self, exemplars, n, generator, seed):
        t = self.templates["anchor"]
        budget = n * t.get("attempts_per_anchor", 6)
        taken = [title(e) for e in exemplars]
        anchors, attempt = [], 0
        cost = {"attempts": 0, "prompt_tokens": 0, "completion_tokens": 0}
        while len(anchors) < n and attempt < budget:
            # One round: as many independent samples as anchors are missing, judged in order,
            # so the result does not depend on the order in which a batch finishes.
            count = min(n - len(anchors), budget - attempt)
            requests = [self._anchor_request(exemplars, seed, attempt + i) for i in range(count)]
            attempt += count
            for _, completion in sorted(
                generator.complete_many(requests), key=lambda rc: rc[0].key
            ):
                if len(anchors) == n:
                    break
                cost["attempts"] += 1
                cost["prompt_tokens"] += completion.prompt_tokens
                cost["completion_tokens"] += completion.completion_tokens
                text = clean_anchor(completion.text)
                if t.get("min_words", 2) <= len(words(text)) <= t.get("max_words", 24) and all(
                    jaccard(text, other) <= t.get("max_jaccard", 0.5) for other in taken
                ):
                    # An anchor carries the cost of the samples drawn since the previous one.
                    anchors.append({"text": text, **cost})
                    cost = dict.fromkeys(cost, 0)
                    taken.append(text)
        if len(anchors) < n:
            raise ZestError(
                f"the generator gave only {len(anchors)} usable anchors of {n} in {attempt}"
                f" samples (each needs {t.get('min_words', 2)}-{t.get('max_words', 24)} words"
                f" and must differ from the others); ask for fewer --anchors, use a stronger"
                f" model, or raise attempts_per_anchor in the templates"
            )
        return anchors

    def _anchor_request(self, exemplars, seed, attempt):
        order = list(range(len(exemplars)))
        random.Random(derive_seed(seed, "order", attempt)).shuffle(order)
        prompt = self.prompt("anchor", exemplars, order)
        return self.request("anchor", attempt, prompt, derive_seed(seed, "anchor", attempt))


class Direct(AnchorStrategy):
    """Documents written straight from the exemplars, no anchors: the paper's baseline."""

    name = "direct"
    uses_anchors = False
    default_templates = TEMPLATES / "direct.toml"
