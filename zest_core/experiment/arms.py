"""The kinds of arm an experiment scores, behind one interface, and the one shape of the
record every score becomes.

An arm kind says, for one ``[[encoder]]`` of a grid, which arms it has (``plan``), how many
scorings they take per dataset (``count``, for the progress bar) and scores them on one
dataset into records (``score``). ``run`` iterates over ``KINDS``; adding a kind of arm is a
class here (and, if it needs one, an ``[[encoder]]`` key on ``contexts.spec.EncoderSpec``).
"""

import json
from collections.abc import Callable
from typing import Any, Protocol

from ..adaptation import arms as adapted
from ..contexts.spec import EncoderSpec
from ..corpus.store import Store
from ..errors import ZestError
from .grid import Grid, show
from .planning import subset_version


def record(dataset, encoder: EncoderSpec, arm: str, row: dict, **fields: Any) -> dict:
    """One score as the report reads it: the arm's fields (``axis``, ``value``, ``config``,
    ``seed``, ``version``, ``generation``, ``context``; missing ones ``None``, ``context``
    the scoring's label) and the scoring row's result."""
    return {
        "dataset": dataset.name,
        "encoder": encoder.label,
        "arm": arm,
        "axis": fields.get("axis"),
        "value": fields.get("value"),
        "config": fields.get("config"),
        "seed": fields.get("seed"),
        "context": fields.get("context", row["label"]),
        "version": fields.get("version"),
        "generation": fields.get("generation"),
        "result_id": row["id"],
        "ndcg_at_10": row["ndcg_at_10"],
        "recall_at_100": row["recall_at_100"],
        "per_query": row["per_query"],
        "reused": row["reused"],
    }


def generations(jobs: list) -> dict[tuple[str, int], int]:
    """The version that names each (dataset, generation seed) of a run: its first job's, the
    base generation (``synthetic``) when the grid has it. Every synthetic context, subset and
    adapted model of one dataset and seed descends from that seed's generation (seed,
    exemplars, training seed), so records sharing it are seed-paired in the report."""
    named: dict[tuple[str, int], int] = {}
    for job in jobs:
        named.setdefault((job.dataset.name, job.seed), job.version)
    return named


class ArmKind(Protocol):
    def plan(self, grid: Grid, encoder: EncoderSpec) -> list: ...

    def count(self, grid: Grid, encoder: EncoderSpec) -> int: ...

    def score(
        self,
        store: Store,
        grid: Grid,
        dataset,
        encoder: EncoderSpec,
        jobs: list,
        progress,
        note: Callable[[str], None],
    ) -> list[dict]: ...


class ContextArms:
    """The encoder under each context: the baselines (``none``, ``generic``, ``real:N``,
    versions) once per dataset, each synthetic arm once per generation seed; a tuned encoder
    with the settings zero-shot tuning picks for each synthetic context."""

    def __init__(self) -> None:
        self._settings: dict[str, dict] = {}  # tuned encoders' tuning keys, once per encoder

    def plan(self, grid: Grid, encoder: EncoderSpec) -> list:
        return list(grid.baselines) + list(grid.arms)

    def count(self, grid: Grid, encoder: EncoderSpec) -> int:
        return len(grid.baselines) + len(grid.arms) * len(grid.seeds)

    def score(self, store, grid, dataset, encoder, jobs, progress, note) -> list[dict]:
        from ..contexts.scoring import evaluate_contexts

        own = [job for job in jobs if job.dataset is dataset]
        entries = [(spec, None) for spec in grid.baselines] + [(str(j.version), j) for j in own]
        groups: dict[str, tuple[dict, list[int]]] = {}
        for i, (_, job) in enumerate(entries):
            chosen = encoder.options
            if job is not None and encoder.tuned:
                progress.step(f"{dataset.name}: tuning on version {job.version}")
                tuned = tuned_settings(store, job.version, encoder, self._key(encoder), note)
                chosen = {**encoder.options, **tuned}
            groups.setdefault(json.dumps(chosen, sort_keys=True), (chosen, []))[1].append(i)
        progress.step(f"{dataset.name}: scoring with {encoder.label}")
        rows: list[dict] = [{}] * len(entries)
        for chosen, members in groups.values():  # one call per set of settings
            scored = evaluate_contexts(
                store,
                dataset.path,
                encoder.name,
                [entries[i][0] for i in members],
                model=encoder.model,
                seed=grid.eval_seed,
                reuse=True,
                note=lambda line, d=dataset.name: note(f"{d}: {line}"),
                on_row=lambda row: progress.evaluated(),
                **chosen,
            )
            for i, row in zip(members, scored):
                rows[i] = row
        records, generation = [], generations(jobs)
        for (spec, job), row in zip(entries, rows):
            fields = {}
            if job is not None:
                fields = {
                    "axis": job.arm.axis,
                    "value": show(job.arm.value) if job.arm.axis else None,
                    "config": job.arm.config,
                    "seed": job.seed,
                    "version": job.version,
                    "generation": generation[dataset.name, job.seed],
                }
            records.append(record(dataset, encoder, job.arm.label if job else spec, row, **fields))
        return records

    def _key(self, encoder: EncoderSpec) -> dict:
        if encoder.label not in self._settings:
            self._settings[encoder.label] = encoder.settings()
        return self._settings[encoder.label]


class AdaptedArms:
    """``[[encoder]] adapted = true``: the encoder's dense model fine-tuned on each synthetic
    context and the references (``adaptation.arms``), per generation seed."""

    def plan(self, grid: Grid, encoder: EncoderSpec) -> list:
        return adapted.arms(grid, encoder)

    def count(self, grid: Grid, encoder: EncoderSpec) -> int:
        return len(self.plan(grid, encoder)) * len(grid.seeds)

    def score(self, store, grid, dataset, encoder, jobs, progress, note) -> list[dict]:
        generation = generations(jobs)
        return [
            record(dataset, encoder, arm, row, generation=generation[dataset.name, f["seed"]], **f)
            for arm, f, row in adapted.score(store, grid, dataset, encoder, jobs, progress, note)
        ]


def tuned_settings(
    store: Store,
    version: int,
    encoder: EncoderSpec,
    settings: dict,
    note: Callable[[str], None] = lambda line: None,
) -> dict:
    """The settings zero-shot tuning (``zest tune``) picks for ``version`` under ``encoder``
    (whose settings are ``settings``): tuned on the version itself, or, when it has more
    than ``tune_docs`` documents, on its balanced subset of that size (fewer synthetic
    queries to write). Queries and tuning are stored, so this runs once per version; nothing
    here reads the target dataset."""
    from ..adaptation.tuning import tune, tuned_options, version_generator, write_queries

    target = version
    limit = encoder.tune_docs
    if limit and len(store.ordinals(version)) > limit:
        target = subset_version(store, version, limit)
    try:
        return tuned_options(store, target, encoder.name, settings)
    except ZestError:
        pass  # not tuned yet: write the queries it lacks, then tune
    generator = version_generator(store, target)
    try:
        written = write_queries(store, target, generator, seed=store.version(target)["seed"] or 0)
    finally:
        generator.close()
    tuning = tune(store, target, encoder.name, encoder.model, **encoder.options)
    note(
        f"version {version}: tuned on version {target} ({written} queries written): "
        + ", ".join(f"{k}={v}" for k, v in tuning["settings"].items())
    )
    return tuning["settings"]


def kinds() -> tuple[ArmKind, ...]:
    """The arm kinds an experiment runs, in the report's order (a fresh set per run: a kind
    may remember what it computed once per encoder)."""
    return (ContextArms(), AdaptedArms())


__all__ = [
    "AdaptedArms",
    "ArmKind",
    "ContextArms",
    "generations",
    "kinds",
    "record",
    "tuned_settings",
]
