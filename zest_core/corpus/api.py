"""The Python API's ``generate()``: ``zest run`` from Python, exemplars to a complete synthetic
corpus version, through the same pipeline and the same choice of exemplars."""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import pipeline
from .exemplars import read_exemplars
from .selection import choose
from .store import Store


def generate(
    exemplars: str | Path | Sequence[str | Path] | Sequence[Mapping],
    *,
    corpus: str,
    generator: str = "llama-cpp",
    model: str | None = None,
    k: int = 5,
    seed: int = 0,
    store: Store | None = None,
    db: str | Path | None = None,
    **settings: Any,
) -> int:
    """Run the pipeline (``zest run``): exemplars -> anchors -> a synthetic corpus version;
    returns the complete version's id, ready to be a context.

    ``exemplars``: a path or paths (JSONL, text files, directories), or documents as
    ``{"text": ..., "title": ...}`` dicts; more than ``k`` are sampled down with ``seed``.
    ``settings``: the other keywords of ``zest_core.corpus.pipeline.start`` (``n_docs``,
    ``n_anchors``, ``strategy``, ``templates``, ``options`` for the generator,
    ``on_document``).
    """
    given = [exemplars] if isinstance(exemplars, (str, Path)) else list(exemplars)
    if given and all(isinstance(e, Mapping) for e in given):
        pool = [{"title": e.get("title"), "text": e["text"], "source": "api"} for e in given]
    else:
        pool = read_exemplars([str(e) for e in given])
    return pipeline.start(
        store or Store(db),
        exemplars=choose(pool, k, seed),
        corpus=corpus,
        generator=generator,
        model=model,
        seed=seed,
        **settings,
    )


__all__ = ["generate"]
