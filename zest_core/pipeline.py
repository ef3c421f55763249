"""The main job: exemplars -> anchors -> planned documents, each stored as soon as it exists.

A version's config holds everything needed to continue it, so ``resume`` after a crash or a
SIGKILL generates exactly the missing plan ordinals with the seeds they would have had.
"""

import time
from typing import Callable

from . import plugins
from .compare import anchor_diversity
from .errors import ZestError
from .generation import Generator
from .store import Store
from .strategy import AnchorStrategy, derive_seed, plan_anchor

# Samples per document: a completion that is empty after cleaning is drawn again, reseeded.
DOCUMENT_ATTEMPTS = 3

OnDocument = Callable[[dict], None]


def start(store: Store, *, exemplars: list[dict], corpus: str, generator: str = "llama-cpp",
          model: str | None = None, options: dict | None = None, strategy: str = "hierarchical",
          templates: str | None = None, n_anchors: int = 20, n_docs: int = 512, seed: int = 0,
          on_document: OnDocument | None = None) -> int:
    """Create a version and generate it; returns its id (complete unless an error was raised)."""
    if n_docs < 1:
        raise ZestError(f"--docs must be at least 1 (got {n_docs})")
    strat = plugins.get_anchor_strategy(strategy)(templates=templates)
    if strat.uses_anchors and not 1 <= n_anchors <= n_docs:
        raise ZestError(f"--anchors must be between 1 and --docs ({n_docs}); got {n_anchors}")
    config = {"generator": generator, "model": model, "options": options or {},
              "strategy": strategy, "templates": templates, "seed": seed, "round": 0,
              "n_anchors": n_anchors if strat.uses_anchors else 0, "n_docs": n_docs}
    gen = _generator(config)
    try:
        version_id = store.create_version(
            corpus, kind="run", config=config, strategy=strategy, generator=generator,
            model=gen.model_id, seed=seed, target_docs=n_docs, n_anchors=config["n_anchors"],
            prompt_hashes=strat.template_hashes(), provenance=gen.provenance())
        store.add_exemplars(version_id, exemplars)
        _generate(store, version_id, gen, strat, config, on_document)
    finally:
        gen.close()
    return version_id


def resume(store: Store, ref: int | str, on_document: OnDocument | None = None) -> int:
    version = store.version(ref)
    if version["status"] == "complete":
        raise ZestError(f"version {version['id']} is already complete")
    return _continue(store, version["id"], version["config"], on_document)


def top_up(store: Store, ref: int | str, on_document: OnDocument | None = None) -> int:
    """A child of a (filtered) version that generates replacements up to the target size."""
    parent = store.complete_version(ref)
    source = parent  # a filtered version keeps no generation config: take its nearest maker's
    while "generator" not in source["config"] and source["parent_id"]:
        source = store.version(source["parent_id"])
    if "generator" not in source["config"]:
        raise ZestError(f"version {parent['id']} has no generation config to top up from")
    config = {**source["config"], "round": source["config"]["round"] + 1}
    have = len(store.ordinals(parent["id"]))
    if have >= config["n_docs"]:
        raise ZestError(f"version {parent['id']} already has {have} of {config['n_docs']} documents")
    child = store.create_version(
        parent["corpus"], kind="top-up", parent_id=parent["id"], config=config,
        strategy=source["strategy"], generator=source["generator"], model=source["model"],
        seed=source["seed"], target_docs=config["n_docs"], n_anchors=source["n_anchors"],
        prompt_hashes=source["prompt_hashes"], provenance=source["provenance"])
    store.copy_into(parent["id"], child)
    return _continue(store, child, config, on_document)


def _continue(store: Store, version_id: int, config: dict, on_document) -> int:
    strat = plugins.get_anchor_strategy(config["strategy"])(templates=config["templates"])
    gen = _generator(config)
    try:
        store.update_version(version_id, status="running", error=None)
        _generate(store, version_id, gen, strat, config, on_document)
    finally:
        gen.close()
    return version_id


def _generator(config: dict) -> Generator:
    cls = plugins.get_generator(config["generator"])
    return cls(config["model"], **config["options"])


def _note_anchors(store: Store, version_id: int, strat: AnchorStrategy, anchors: list[dict]):
    """Record the anchors' diversity (and what the strategy says about its sampling) in the
    version's provenance, so that every version can be compared on it."""
    report = {"diversity": anchor_diversity([a["text"] for a in anchors]),
              **getattr(strat, "report", {})}
    provenance = store.version(version_id)["provenance"]
    store.update_version(version_id, provenance={**provenance, "anchors": report})


def _generate(store: Store, version_id: int, gen: Generator, strat: AnchorStrategy,
              config: dict, on_document: OnDocument | None) -> None:
    started = time.monotonic()
    try:
        exemplars = store.exemplars(version_id)
        anchors = store.anchors(version_id)
        if config["n_anchors"] and not anchors:
            store.add_anchors(version_id, strat.make_anchors(
                exemplars, config["n_anchors"], gen, config["seed"]))
            anchors = store.anchors(version_id)
        if anchors and "anchors" not in store.version(version_id)["provenance"]:
            _note_anchors(store, version_id, strat, anchors)
        n_docs, seed, rnd = config["n_docs"], config["seed"], config["round"]
        for attempt in range(DOCUMENT_ATTEMPTS):
            missing = sorted(set(range(n_docs)) - store.ordinals(version_id))
            if not missing:
                break
            anchor_of = {j: anchors[plan_anchor(j, n_docs, len(anchors))] if anchors else None
                         for j in missing}
            requests = (
                strat.document_request(exemplars, anchor_of[j] and anchor_of[j]["text"], j,
                                       derive_seed(seed, "document", rnd, j, attempt))
                for j in missing)
            for request, completion in gen.complete_many(requests):
                text = strat.clean_document(completion.text)
                if not text:
                    continue
                anchor = anchor_of[request.key]
                doc = {"ordinal": request.key, "text": text,
                       "anchor_id": anchor and anchor["id"],
                       "token_count": completion.completion_tokens,
                       "prompt_tokens": completion.prompt_tokens, "seed": request.seed,
                       "finish_reason": completion.finish_reason}
                store.add_document(version_id, **doc)
                if on_document:
                    on_document(doc)
        missing = n_docs - len(store.ordinals(version_id))
        if missing:
            raise ZestError(f"the generator returned empty text for {missing} documents"
                            f" after {DOCUMENT_ATTEMPTS} attempts each")
    except BaseException as e:
        reason = "interrupted" if isinstance(e, KeyboardInterrupt) else str(e) or type(e).__name__
        store.finish(version_id, "failed", time.monotonic() - started, error=reason)
        raise
    store.finish(version_id, "complete", time.monotonic() - started)
