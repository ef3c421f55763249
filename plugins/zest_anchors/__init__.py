"""Anchor strategies: ``hierarchical`` (ZEST: anchors first, then documents), ``diverse`` (the
same, steering anchors away from topics already covered) and ``direct``."""

import random
import re
from pathlib import Path

import numpy as np

from zest_core import (
    AnchorStrategy,
    Option,
    ZestError,
    derive_seed,
    hookimpl,
    jaccard,
    title,
    words,
)

from . import diverse

TEMPLATES = Path(__file__).parent / "templates"


@hookimpl
def register_anchor_strategies(register):
    register(Hierarchical)
    register(Diverse)
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
    template_settings = {
        "anchor": {
            "min_words": Option(2, int, "Fewest words in an anchor.", min=1),
            "max_words": Option(24, int, "Most words in an anchor.", min=1),
            "max_jaccard": Option(
                0.5, float, "Word-set overlap above which an anchor is a copy.", min=0, max=1
            ),
            "attempts_per_anchor": Option(6, int, "Samples per anchor asked for.", min=1),
        }
    }

    def usable(self, text: str, taken: list[str]) -> bool:
        """Length within bounds and no near-copy of a taken title (word-set Jaccard)."""
        t = self.templates["anchor"]
        return t.get("min_words", 2) <= len(words(text)) <= t.get("max_words", 24) and all(
            jaccard(text, other) <= t.get("max_jaccard", 0.5) for other in taken
        )

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
            for text in self._draw(generator, requests, cost):
                if len(anchors) == n:
                    break
                if self.usable(text, taken):
                    # An anchor carries the cost of the samples drawn since the previous one.
                    anchors.append({"text": text, **cost})
                    cost.update(dict.fromkeys(cost, 0))  # in place: _draw adds to it
                    taken.append(text)
        self._check_count(anchors, n, attempt)
        return anchors

    def _check_count(self, anchors, n, attempt):
        t = self.templates["anchor"]
        if len(anchors) < n:
            raise ZestError(
                f"the generator gave only {len(anchors)} usable anchors of {n} in {attempt}"
                f" samples (each needs {t.get('min_words', 2)}-{t.get('max_words', 24)} words"
                f" and must differ from the others); ask for fewer --anchors, use a stronger"
                f" model, or raise attempts_per_anchor in the templates"
            )

    @staticmethod
    def _draw(generator, requests, cost):
        """Cleaned samples in request order (so the result does not depend on the order in
        which a batch finishes), each sample's tokens added to ``cost``."""
        for _, completion in sorted(generator.complete_many(requests), key=lambda rc: rc[0].key):
            cost["attempts"] += 1
            cost["prompt_tokens"] += completion.prompt_tokens
            cost["completion_tokens"] += completion.completion_tokens
            yield clean_anchor(completion.text)

    def _anchor_request(self, exemplars, seed, attempt):
        order = list(range(len(exemplars)))
        random.Random(derive_seed(seed, "order", attempt)).shuffle(order)
        prompt = self.prompt("anchor", exemplars, order)
        return self.request("anchor", attempt, prompt, derive_seed(seed, "anchor", attempt))


class Diverse(Hierarchical):
    """Hierarchical, but each round draws ``candidates`` samples per missing anchor and keeps
    them farthest-first: a candidate is taken only while its similarity to every covered
    topic (exemplar titles, anchors so far) stays at most ``max_similarity``
    (``diverse.py``). The retry budget is the hierarchical one; when it runs out, the
    closest-but-usable candidates fill what is missing (counted as ``relaxed``), so a weak
    model that keeps to a few topics still gets its anchors."""

    name = "diverse"
    template_settings = {
        "anchor": {
            **Hierarchical.template_settings["anchor"],
            "diverse": Option("auto", str, "How topics are compared.", choices=diverse.MODES),
            "max_similarity": Option(
                None, float, "Closeness to a covered topic that is still new.", min=-1, max=1
            ),
            "candidates": Option(2, int, "Samples drawn per missing anchor.", min=1),
        }
    }

    def make_anchors(self, exemplars, n, generator, seed):
        t = self.templates["anchor"]
        mode, similar = diverse.similarity(t.get("diverse", "auto"))
        limit = t.get("max_similarity", diverse.THRESHOLDS[mode])
        per_anchor = max(1, t.get("candidates", 2))
        budget = n * t.get("attempts_per_anchor", 6)
        covered = [title(e) for e in exemplars]
        anchors, reserve, attempt = [], [], 0
        cost = {"attempts": 0, "prompt_tokens": 0, "completion_tokens": 0}

        def take(pool: list[str], threshold: float) -> list[str]:
            """Accept the farthest candidates while they stay within ``threshold``; return
            the ones passed over."""
            while pool and len(anchors) < n:
                pool = [c for c in pool if self.usable(c, covered)]
                if not pool:
                    break
                closeness = similar(pool, covered).max(axis=1)
                best = int(np.argmin(closeness))
                if closeness[best] > threshold:
                    break
                anchors.append({"text": pool.pop(best), **cost})
                cost.update(dict.fromkeys(cost, 0))  # the next anchor carries the next cost
                covered.append(anchors[-1]["text"])
            return pool

        while len(anchors) < n and attempt < budget:
            count = min((n - len(anchors)) * per_anchor, budget - attempt)
            requests = [self._anchor_request(exemplars, seed, attempt + i) for i in range(count)]
            attempt += count
            reserve += take(list(self._draw(generator, requests, cost)), limit)
        relaxed = len(anchors)
        take(reserve, float("inf"))
        self.report = {
            "diverse": mode,
            "max_similarity": limit,
            "candidates": per_anchor,
            "samples": attempt,
            "relaxed": len(anchors) - relaxed,
        }
        self._check_count(anchors, n, attempt)
        return anchors


class Direct(AnchorStrategy):
    """Documents written straight from the exemplars, no anchors: the paper's baseline."""

    name = "direct"
    uses_anchors = False
    default_templates = TEMPLATES / "direct.toml"
