"""An experiment's plan: every synthetic corpus the grid needs, each found in the store by its
config and exemplars (reused, resumed when unfinished, or generated), and a smaller J' of the
same config taken as a balanced subset of the larger version."""

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..contexts.beir import load_beir
from ..contexts.encoding import dense_embedder
from ..corpus import pipeline, runconfig
from ..corpus.exemplars import read_exemplars
from ..corpus.selection import choose
from ..corpus.store import Store
from ..errors import ZestError
from .grid import Arm, Dataset, Grid


def exemplar_pool(dataset: Dataset) -> list[dict]:
    """The documents exemplars are chosen from: the dataset's exemplar path, else a fixed
    sample of its corpus among documents that no test query judges relevant."""
    if dataset.exemplars is not None:
        return read_exemplars([str(dataset.exemplars)])
    import random

    data = load_beir(dataset.path)
    judged = {d for docs in data.qrels.values() for d, score in docs.items() if score > 0}
    unjudged = [i for i in data.corpus if i not in judged]
    picked = sorted(random.Random(0).sample(range(len(unjudged)), min(dataset.pool, len(unjudged))))
    return [
        {
            "title": data.corpus[unjudged[i]]["title"] or None,
            "text": data.corpus[unjudged[i]]["text"],
            "source": f"{dataset.path / 'corpus.jsonl'}#{unjudged[i]}",
        }
        for i in picked
    ]


# finding, resuming or making versions ------------------------------------------------------
def _run_config(config: dict, seed: int) -> dict:
    """The config pipeline.start stores for one of our generation configs."""
    return runconfig.run_config(
        generator=config["generator"],
        model=config["model"],
        options=config["options"],
        strategy=config["strategy"],
        templates=config["templates"],
        seed=seed,
        n_anchors=config["anchors"],
        n_docs=config["docs"],
    )


def _exemplar_key(exemplars: list[dict]) -> list:
    return [[e.get("title") or None, e["text"]] for e in exemplars]


def find_run(store: Store, config: dict, seed: int, exemplars: list[dict]) -> dict | None:
    """A version generated with this config and these exemplars: the complete one when there
    is one, else the newest unfinished one (to resume)."""
    # Matched on what the config resolves to, not on what it asks for: a run made under
    # other defaults (an older zest's vocab=full, another CPU's extra_buffers) is not reused.
    wanted = runconfig.resolve_config(_run_config(config, seed), exemplars)
    key = _exemplar_key(exemplars)
    found = None
    for row in store.run_versions():
        # "loaded" facts: stored only, not compared
        stored = runconfig.as_run_now(json.loads(row["resolved"] or "{}"))
        if any(stored.get(k) != v for k, v in wanted.items()):
            continue
        if _exemplar_key(store.exemplars(row["id"])) != key:
            continue
        if row["status"] == "complete":
            return row
        found = row
    return found


def balanced_subset(documents: list[dict], n: int) -> list[dict]:
    """``n`` documents taken round-robin over their anchors (in anchor order, each anchor's
    documents in plan order), so a small J' still covers every anchor."""
    by_anchor: dict[Any, list[dict]] = {}
    for doc in sorted(documents, key=lambda d: d["ordinal"]):
        by_anchor.setdefault(doc["anchor_id"], []).append(doc)
    queues, picked = list(by_anchor.values()), []
    depth = 0
    while len(picked) < n:
        layer = [queue[depth] for queue in queues if depth < len(queue)]
        if not layer:
            break
        picked.extend(layer[: n - len(picked)])
        depth += 1
    return sorted(picked, key=lambda d: d["ordinal"])


def subset_version(store: Store, parent_id: int, n: int) -> int:
    """The complete J'=``n`` balanced subset of ``parent_id``, made once, in one transaction
    (a kill leaves it whole or absent). Its documents are renumbered 0..n-1 as a plan of n;
    the parent's ordinals are in its config, the parent is its lineage."""
    if found := store.stored_subset(parent_id, n):
        return found  # the usual case on a rerun: no write lock taken
    parent = store.require_complete(parent_id)
    keep = balanced_subset(store.documents(parent_id), n)
    config = {
        "subset_of": parent_id,
        "n_docs": n,
        "method": "balanced-over-anchors",
        "parent_ordinals": [d["ordinal"] for d in keep],
    }
    with store.transaction():
        # again under the write lock: a concurrent experiment may have made it meanwhile
        if found := store.stored_subset(parent_id, n):
            return found
        child = store.create_child(
            parent,
            kind="subset",
            config=config,
            target_docs=n,
            resolved={**parent["resolved"], "n_docs": n},
        )
        store.copy_into(parent_id, child, keep=[])  # exemplars and anchors
        anchors = {a["ordinal"]: a["id"] for a in store.anchors(child)}
        parent_anchor = {a["id"]: a["ordinal"] for a in store.anchors(parent_id)}
        for ordinal, doc in enumerate(keep):
            fields = {k: doc[k] for k in ("token_count", "prompt_tokens", "seed", "finish_reason")}
            store.add_document(
                child,
                ordinal,
                doc["text"],
                **fields,
                anchor_id=anchors.get(parent_anchor.get(doc["anchor_id"])),
            )
        store.finish(child, "complete", 0.0)
    return child


@dataclass
class Job:
    """One synthetic context to obtain: generated (``source`` None) or a subset of one."""

    dataset: Dataset
    arm: Arm
    seed: int
    exemplars: list[dict]
    source: "Job | None" = None  # the larger run this job is a subset of
    version: int | None = None


def plan(grid: Grid, store: Store, embed: Callable | None = None) -> list[Job]:
    """Every synthetic context of the grid. Runs that differ only in J' share one generation:
    the largest, of which the others are balanced subsets."""
    pools: dict[str, list[dict]] = {}
    chosen: dict[tuple, list[dict]] = {}
    by_name = {d.name: d for d in grid.sources}  # other-domain exemplars: any of the file's

    def exemplars(dataset: Dataset, config: dict, seed: int) -> list[dict]:
        key = (dataset.name, config["k"], config["selection"], seed)
        if key not in chosen:
            if dataset.name not in pools:
                pools[dataset.name] = exemplar_pool(dataset)
            chosen[key] = choose(
                pools[dataset.name],
                config["k"],
                seed,
                config["selection"],
                embed or dense_embedder(store, lazy=True),
            )
        return chosen[key]

    jobs = []
    for dataset in grid.datasets:
        for arm in grid.arms:
            source = by_name[dataset.other_domain] if arm.exemplars_from else dataset
            for seed in grid.seeds:
                jobs.append(Job(dataset, arm, seed, exemplars(source, arm.config, seed)))
    largest: dict[str, Job] = {}
    for job in jobs:
        key = _generation_key(job)
        if key not in largest or job.arm.config["docs"] > largest[key].arm.config["docs"]:
            largest[key] = job
    for job in jobs:
        top = largest[_generation_key(job)]
        if top.arm.config["docs"] > job.arm.config["docs"]:
            job.source = top
    return jobs


def _generation_key(job: Job) -> str:
    config = {k: v for k, v in _run_config(job.arm.config, job.seed).items() if k != "n_docs"}
    return json.dumps([config, _exemplar_key(job.exemplars)], sort_keys=True)


def to_generate(store: Store, jobs: list[Job]) -> int:
    """Documents still to write, for the progress bar."""
    total, seen = 0, set()
    for job in jobs:
        if job.source is not None or (key := _generation_key(job)) in seen:
            continue
        seen.add(key)
        found = find_run(store, job.arm.config, job.seed, job.exemplars)
        if found is None or found["status"] != "complete":
            have = len(store.ordinals(found["id"])) if found else 0
            total += job.arm.config["docs"] - have
    return total


def obtain(
    store: Store,
    job: Job,
    on_document: Callable[[dict], None],
    note: Callable[[str], None] = lambda line: None,
) -> int:
    """The version of one job: found, resumed, generated, or subset from its source."""
    if job.version is not None:
        return job.version
    if job.source is not None:
        job.version = subset_version(
            store, obtain(store, job.source, on_document, note), job.arm.config["docs"]
        )
    else:
        job.version = _complete_run(store, job, on_document, note)
    return job.version


def _complete_run(
    store: Store, job: Job, on_document: Callable[[dict], None], note: Callable[[str], None]
) -> int:
    """The job's run, found complete, resumed or generated. Another process (a concurrent
    zest experiment on the same store) may be writing it: then this one waits for it to
    finish and reuses it, rather than failing on its lease or generating it a second time."""
    config = job.arm.config

    def lookup() -> dict | None:
        return find_run(store, config, job.seed, job.exemplars)

    while True:  # each pass ends in a complete run, or in a change made by another process
        found = lookup()
        if found is None:
            name = job.arm.exemplars_from and job.dataset.other_domain or job.dataset.name
            pipeline.start(  # made here, or found made by another at the last moment
                store,
                exemplars=job.exemplars,
                corpus=f"{name}-experiment",
                generator=config["generator"],
                model=config["model"],
                options=config["options"],
                strategy=config["strategy"],
                templates=config["templates"],
                n_anchors=config["anchors"] or 1,
                n_docs=config["docs"],
                seed=job.seed,
                on_document=on_document,
                existing=lambda: (row := lookup()) and row["id"],
            )
        elif found["status"] == "complete":
            return found["id"]
        elif store.other_writer(found["id"]):
            wait_for(store, found["id"], note)
        else:
            try:
                return pipeline.resume(store, found["id"], on_document=on_document)
            except ZestError:
                if not store.other_writer(found["id"]):
                    raise  # a real failure, not another process taking the lease first


# How long a wait for another process's version may see no progress (no new anchor or
# document, no heartbeat) before giving up: a live writer that stores nothing is stuck.
WAIT_SECONDS = float(os.environ.get("ZEST_WAIT_SECONDS", 1800))
WAIT_POLL_SECONDS = 0.5
WAIT_NOTE_SECONDS = 30.0  # a waiting note this often, so a log shows why nothing moves


def wait_for(store: Store, version_id: int, note: Callable[[str], None]) -> None:
    """Wait while another live process writes the version, noting what it waits for."""
    last, moved, noted = None, time.monotonic(), -WAIT_NOTE_SECONDS
    while holder := store.other_writer(version_id):
        version = store.version(version_id)
        done = len(store.ordinals(version_id))
        mark = (done, len(store.anchors(version_id)), version["lease_heartbeat"])
        now = time.monotonic()
        if mark != last:
            last, moved = mark, now
        elif now - moved > WAIT_SECONDS:
            raise ZestError(
                f"version {version_id} is being written by {holder}, which has stored"
                f" nothing for {WAIT_SECONDS:.0f} s; run again once that process ends"
            )
        if now - noted >= WAIT_NOTE_SECONDS:
            note(
                f"waiting for version {version_id}: {holder} is writing it"
                f" ({done}/{version['target_docs']} documents)"
            )
            noted = now
        time.sleep(WAIT_POLL_SECONDS)


__all__ = [
    "Job",
    "balanced_subset",
    "exemplar_pool",
    "find_run",
    "obtain",
    "plan",
    "subset_version",
    "to_generate",
    "wait_for",
]
