"""The main job: exemplars -> anchors -> planned documents, each stored as soon as it exists.

A version's config holds everything needed to continue it, so ``resume`` after a crash or a
SIGKILL generates exactly the missing plan ordinals with the seeds they would have had.
"""

import signal
import time
from collections.abc import Callable

import click

from ..errors import Interrupted, ZestError
from ..plugin import manager as plugins
from ..plugin.generation import Generator
from ..plugin.strategy import AnchorStrategy, derive_seed, plan_anchor
from .compare import anchor_diversity
from .exemplars import note_cut
from .runconfig import (
    _resolved_session,
    _with_changes,
    check_run,
    pinned_options,
    resolve_config,
    run_config,
)
from .store import Store

# Samples per document: a completion that is empty after cleaning is drawn again, reseeded.
DOCUMENT_ATTEMPTS = 3
OnDocument = Callable[[dict], None]


def start(
    store: Store,
    *,
    exemplars: list[dict],
    corpus: str,
    generator: str = "llama-cpp",
    model: str | None = None,
    options: dict | None = None,
    strategy: str = "hierarchical",
    templates: str | None = None,
    n_anchors: int = 20,
    n_docs: int = 512,
    seed: int = 0,
    on_document: OnDocument | None = None,
    existing: Callable[[], int | None] | None = None,
) -> int:
    """Create a version and generate it; returns its id (complete unless an error was raised).

    ``existing`` is asked inside the transaction that would create the version, under the
    write lock: an id it returns is returned at once, nothing created or generated. So
    concurrent callers that look there for an equal version (zest experiment) never both
    create it."""
    strat = plugins.get_anchor_strategy(strategy)(templates=templates)
    check_run(
        corpus=corpus, n_docs=n_docs, n_anchors=n_anchors if strat.uses_anchors else 1, seed=seed
    )
    if not exemplars:
        raise ZestError("no exemplars given")
    config = run_config(
        generator=generator,
        model=model,
        options=options,
        strategy=strategy,
        templates=templates,
        seed=seed,
        n_anchors=n_anchors,
        n_docs=n_docs,
    )
    resolved = resolve_config(config, exemplars)
    cls = plugins.get_generator(generator)
    for line in cls.resolution_notes(config["options"], resolved["options"], exemplars):
        click.echo(f"{generator}: {line}", err=True)  # e.g. what vocab=auto chose, and why
    # Built from what was resolved and recorded, as resume builds it: the generator runs with
    # exactly the options the version says it ran with.
    gen = prepared_generator({**config, "options": pinned_options(config, resolved)}, exemplars)
    try:
        with store.transaction():
            if existing is not None and (found := existing()) is not None:
                return found
            version_id = store.create_version(
                corpus,
                kind="run",
                config=config,
                resolved={**resolved, "loaded": gen.loaded_facts()},
                strategy=strategy,
                generator=generator,
                model=gen.model_id,
                seed=seed,
                target_docs=n_docs,
                n_anchors=config["n_anchors"],
                prompt_hashes=strat.template_hashes(),
                provenance=gen.provenance(),
            )
            store.add_exemplars(version_id, exemplars)
        _generate(store, version_id, gen, config, on_document, strat)
    finally:
        gen.close()
    note_cut(exemplars, strat.exemplar_words())  # after the run: a failure stays one line
    return version_id


def resume(
    store: Store, ref: int | str, on_document: OnDocument | None = None, changes: dict | None = None
) -> int:
    """Continue an unfinished run or top-up, optionally with changed resume-safe options."""
    version = store.version(ref)
    if version["status"] == "complete":
        raise ZestError(f"version {version['id']} is already complete")
    if "generator" not in version["config"]:
        raise ZestError(
            f"version {version['id']} is a {version['kind']} version that did not"
            f" finish; it cannot be resumed: remove it (zest corpora rm"
            f" {version['id']}) and run the {version['kind']} again"
        )
    config = _with_changes(version["config"], changes)
    exemplars = store.exemplars(version["id"])
    pinned, resolved = _resolved_session(config, version["resolved"], exemplars)
    # Before the lease: a bad option leaves the version as it was.
    gen = prepared_generator(pinned, exemplars)
    try:
        version = store.acquire(version["id"])
        store.update_version(
            version["id"], config=config, resolved={**resolved, "loaded": gen.loaded_facts()}
        )
        _generate(store, version["id"], gen, config, on_document)
    finally:
        gen.close()
    return version["id"]


def top_up(
    store: Store, ref: int | str, on_document: OnDocument | None = None, changes: dict | None = None
) -> int:
    """A child of a (filtered) version that generates replacements up to the target size."""
    parent = store.require_complete(ref)
    source = parent  # a filtered version keeps no generation config: take its nearest maker's
    while "generator" not in source["config"] and source["parent_id"]:
        source = store.version(source["parent_id"])
    if "generator" not in source["config"]:
        raise ZestError(f"version {parent['id']} has no generation config to top up from")
    config = {**_with_changes(source["config"], changes), "round": source["config"]["round"] + 1}
    have = len(store.ordinals(parent["id"]))
    if have >= config["n_docs"]:
        raise ZestError(
            f"version {parent['id']} already has {have} of {config['n_docs']} documents"
        )
    exemplars = store.exemplars(parent["id"])
    pinned, resolved = _resolved_session(config, source["resolved"], exemplars)
    gen = prepared_generator(pinned, exemplars)
    try:
        with store.transaction():  # the child exists with all its parent's rows, or not at all
            child = store.create_child(
                parent,
                kind="top-up",
                config=config,
                source=source,
                resolved={**resolved, "loaded": gen.loaded_facts()},
                target_docs=config["n_docs"],
            )
            store.copy_into(parent["id"], child)
        _generate(store, child, gen, config, on_document)
    finally:
        gen.close()
    return child


def prepared_generator(config: dict, exemplars: list[dict]) -> Generator:
    """The config's generator, built and prepared on the exemplars."""
    gen = plugins.new_generator(config["generator"], config["model"], **config["options"])
    try:
        gen.prepare(exemplars)
    except BaseException:
        gen.close()
        raise
    return gen


def _generate(
    store: Store,
    version_id: int,
    gen: Generator,
    config: dict,
    on_document: OnDocument | None,
    strat: AnchorStrategy | None = None,
) -> None:
    """Generate what the version lacks, then mark it complete (if its rows are whole) or
    failed. Ctrl-C and SIGTERM mark it failed ("interrupted") and raise ``Interrupted``."""
    started = time.monotonic()
    try:
        strat = strat or plugins.get_anchor_strategy(config["strategy"])(
            templates=config["templates"]
        )
        empty = _fill(store, version_id, gen, strat, config, on_document)
        if empty:
            store.update_version(version_id, config={**config, "empty": empty})
            raise ZestError(
                f"the generator returned empty text for {len(empty)} documents"
                f" after {DOCUMENT_ATTEMPTS} attempts each (resuming draws them"
                " with fresh seeds)"
            )
        store.finish(version_id, "complete", time.monotonic() - started)
    except BaseException as e:
        interrupted = isinstance(e, (KeyboardInterrupt, Interrupted))
        reason = "interrupted" if interrupted else str(e) or type(e).__name__
        _record_failure(store, version_id, time.monotonic() - started, reason)
        if isinstance(e, Exception):
            e.resumable_version = version_id  # the CLI's error line says how to continue it
        if isinstance(e, Interrupted):
            e.version_id = version_id
        if isinstance(e, KeyboardInterrupt):
            raise Interrupted(signal.SIGINT, version_id) from None
        raise


def _record_failure(store: Store, version_id: int, seconds: float, reason: str) -> None:
    """Mark the version failed with its real cause. On a full disk ``finish`` may not fit;
    the write that failed was rolled back, so the one-row ``mark_failed`` usually does (it
    reuses the space the rolled-back write took). Failing both, the lease dies with this
    process and the next open that writes marks the version failed."""
    try:
        store.finish(version_id, "failed", seconds, error=reason)
    except Exception:
        try:
            store.mark_failed(version_id, reason)
        except Exception:
            pass  # the first error matters more


def _note_anchors(store: Store, version_id: int, strat: AnchorStrategy, anchors: list[dict]):
    """Record the anchors' diversity (and what the strategy says about its sampling) in the
    version's provenance, so that every version can be compared on it."""
    report = {
        "diversity": anchor_diversity([a["text"] for a in anchors]),
        **strat.report,
    }
    provenance = store.version(version_id)["provenance"]
    store.update_version(version_id, provenance={**provenance, "anchors": report})


def _fill(
    store: Store,
    version_id: int,
    gen: Generator,
    strat: AnchorStrategy,
    config: dict,
    on_document: OnDocument | None,
) -> list[int]:
    """Store the missing anchors and documents; return the ordinals still empty."""
    exemplars = store.exemplars(version_id)
    anchors = store.anchors(version_id)
    if len(anchors) != config["n_anchors"]:
        store.add_anchors(
            version_id, strat.make_anchors(exemplars, config["n_anchors"], gen, config["seed"])
        )
        anchors = store.anchors(version_id)
    if anchors and "anchors" not in store.version(version_id)["provenance"]:
        _note_anchors(store, version_id, strat, anchors)
    n_docs, seed, rnd = config["n_docs"], config["seed"], config["round"]
    # Ordinals that came back empty in an earlier session are drawn with seeds of this
    # resume; every other ordinal keeps the seed an uninterrupted run would give it.
    reseeded = set(config.get("empty", ()))
    resumes = config.get("resumes", 0)
    for attempt in range(DOCUMENT_ATTEMPTS):
        missing = sorted(set(range(n_docs)) - store.ordinals(version_id))
        if not missing:
            break
        anchor_of = {
            j: anchors[plan_anchor(j, n_docs, len(anchors))] if anchors else None for j in missing
        }

        def seed_of(j, attempt=attempt):
            if j in reseeded:
                return derive_seed(seed, "document", rnd, j, attempt, "resume", resumes)
            return derive_seed(seed, "document", rnd, j, attempt)

        requests = (
            strat.document_request(exemplars, anchor_of[j] and anchor_of[j]["text"], j, seed_of(j))
            for j in missing
        )
        for request, completion in gen.complete_many(requests):
            text, finish_reason = strat.finish_document(completion)
            if not text:
                continue
            anchor = anchor_of[request.key]
            doc = {
                "ordinal": request.key,
                "text": text,
                "anchor_id": anchor and anchor["id"],
                "token_count": completion.completion_tokens,
                "prompt_tokens": completion.prompt_tokens,
                "seed": request.seed,
                "finish_reason": finish_reason,
            }
            store.add_document(version_id, **doc)
            if on_document:
                on_document(doc)
    return sorted(set(range(n_docs)) - store.ordinals(version_id))
