"""``zest experiment``: the paper's ablations as one declared grid, run end to end.

A TOML file names datasets, contexts, a base generation config, one-axis-at-a-time
ablations around it, generation seeds and encoders (see docs/experiments.md). The grid is
planned completely (and every value checked) before any work; then each synthetic corpus is
found in the store by its config and exemplars, resumed when unfinished, or generated; a
smaller J' of the same config is a balanced subset of the larger version (kind ``subset``);
each (dataset, encoder, context) is scored once and its stored result reused afterwards. So a
finished experiment re-runs in seconds and a killed one continues where it stopped.
"""

import json
from collections.abc import Callable

from ..corpus.store import Store
from ..errors import ZestError
from . import adapt_arms
from .grid import Grid, show
from .planning import obtain, plan, subset_version, to_generate


def encoder_label(encoder: dict) -> str:
    options = ",".join(f"{k}={v}" for k, v in sorted(encoder.get("options", {}).items()))
    model = f"({encoder['model']})" if encoder.get("model") else ""
    label = f"{encoder.get('name', 'hybrid')}{model}" + (f"[{options}]" if options else "")
    if encoder.get("tuned"):
        label += " tuned" + (f" on {encoder['tune_docs']} docs" if encoder.get("tune_docs") else "")
    return label + adapt_arms.label_suffix(encoder)


def encoder_settings(encoder: dict) -> dict:
    """The settings a grid's ``[[encoder]]`` runs with (the key its tunings are stored under);
    the model loads lazily, so this does not load it."""
    from .encoding import make_encoder

    name, options = encoder.get("name", "hybrid"), encoder.get("options", {})
    encoder_obj = make_encoder(name, encoder.get("model"), **options)
    try:
        return encoder_obj.settings()
    finally:
        encoder_obj.close()


def tuned_settings(
    store: Store,
    version: int,
    encoder: dict,
    settings: dict,
    note: Callable[[str], None] = lambda line: None,
) -> dict:
    """The settings zero-shot tuning (``zest tune``) picks for ``version`` under ``encoder``
    (whose ``encoder_settings`` are ``settings``): tuned on the version itself, or, when it
    has more than ``tune_docs`` documents, on its balanced subset of that size (fewer
    synthetic queries to write). Queries and tuning are stored, so this runs once per
    version; nothing here reads the target dataset."""
    from .tuning import tune, tuned_options, version_generator, write_queries

    name, model = encoder.get("name", "hybrid"), encoder.get("model")
    options = encoder.get("options", {})
    target = version
    limit = encoder.get("tune_docs")
    if limit and len(store.ordinals(version)) > limit:
        target = subset_version(store, version, limit)
    try:
        return tuned_options(store, target, name, settings)
    except ZestError:
        pass  # not tuned yet: write the queries it lacks, then tune
    generator = version_generator(store, target)
    try:
        written = write_queries(store, target, generator, seed=store.version(target)["seed"] or 0)
    finally:
        generator.close()
    tuning = tune(store, target, name, model, **options)
    note(
        f"version {version}: tuned on version {target} ({written} queries written): "
        + ", ".join(f"{k}={v}" for k, v in tuning["settings"].items())
    )
    return tuning["settings"]


def generations(jobs: list) -> dict[tuple[str, int], int]:
    """The version that names each (dataset, generation seed) of a run: its first job's, the
    base generation (``synthetic``) when the grid has it. Every synthetic context, subset and
    adapted model of one dataset and seed descends from that seed's generation (seed,
    exemplars, training seed), so records sharing it are seed-paired in the report."""
    named: dict[tuple[str, int], int] = {}
    for job in jobs:
        named.setdefault((job.dataset.name, job.seed), job.version)
    return named


def run(grid: Grid, store: Store, progress: "Progress", note: Callable[[str], None]) -> list[dict]:
    """Obtain every synthetic context, then score every (dataset, encoder, context); returns
    one record per score with its per-query values."""
    from .evaluate import evaluate_contexts

    for spec in grid.baselines:
        if spec.isdigit():
            store.require_complete(spec)  # refused before any work, not after hours of it
    jobs = plan(grid, store)
    n_evals = (
        len(grid.datasets)
        * len(grid.encoders)
        * (len(grid.baselines) + len(grid.arms) * len(grid.seeds))
    ) + len(grid.datasets) * len(grid.seeds) * sum(
        len(adapt_arms.arms(grid, e)) for e in grid.encoders
    )
    progress.start(to_generate(store, jobs), n_evals)
    for job in jobs:
        progress.step(f"{job.dataset.name}: {job.arm.label}, seed {job.seed}")
        obtain(store, job, progress.document, progress.step)
    records = []
    generation = generations(jobs)
    # the key each tuned encoder's tunings are stored under: once per encoder, not per dataset
    tuning_keys = [encoder_settings(e) if e.get("tuned") else None for e in grid.encoders]
    for dataset in grid.datasets:
        own = [job for job in jobs if job.dataset is dataset]
        entries = [(spec, None) for spec in grid.baselines] + [(str(j.version), j) for j in own]
        for encoder, settings in zip(grid.encoders, tuning_keys):
            options = encoder.get("options", {})
            groups: dict[str, tuple[dict, list[int]]] = {}
            for i, (_, job) in enumerate(entries):
                chosen = options
                if job is not None and encoder.get("tuned"):
                    progress.step(f"{dataset.name}: tuning on version {job.version}")
                    tuned = tuned_settings(store, job.version, encoder, settings, note)
                    chosen = {**options, **tuned}
                groups.setdefault(json.dumps(chosen, sort_keys=True), (chosen, []))[1].append(i)
            progress.step(f"{dataset.name}: scoring with {encoder_label(encoder)}")
            rows: list[dict] = [{}] * len(entries)
            for chosen, members in groups.values():  # one call per set of settings
                scored = evaluate_contexts(
                    store,
                    dataset.path,
                    encoder.get("name", "hybrid"),
                    [entries[i][0] for i in members],
                    model=encoder.get("model"),
                    seed=grid.eval_seed,
                    reuse=True,
                    note=lambda line, d=dataset.name: note(f"{d}: {line}"),
                    on_row=lambda row: progress.evaluated(),
                    **chosen,
                )
                for i, row in zip(members, scored):
                    rows[i] = row
            for (spec, job), row in zip(entries, rows):
                records.append(
                    {
                        "dataset": dataset.name,
                        "encoder": encoder_label(encoder),
                        "arm": job.arm.label if job else spec,
                        "axis": job.arm.axis if job else None,
                        "value": show(job.arm.value) if job and job.arm.axis else None,
                        "config": job.arm.config if job else None,
                        "seed": job.seed if job else None,
                        "context": row["label"],
                        "version": job.version if job else None,
                        "generation": generation[dataset.name, job.seed] if job else None,
                        "result_id": row["id"],
                        "ndcg_at_10": row["ndcg_at_10"],
                        "recall_at_100": row["recall_at_100"],
                        "per_query": row["per_query"],
                        "reused": row["reused"],
                    }
                )
            # adapted = true: the model fine-tuned on each synthetic context, and references
            records += adapt_arms.score(store, grid, dataset, encoder, jobs, progress, note)
    return records


class Progress:
    """What ``run`` reports as it goes; the CLI draws it as bars, tests may count it."""

    def start(self, documents: int, evaluations: int) -> None: ...
    def step(self, what: str) -> None: ...
    def document(self, doc: dict) -> None: ...
    def evaluated(self) -> None: ...


__all__ = [
    "Progress",
    "encoder_label",
    "encoder_settings",
    "generations",
    "run",
    "tuned_settings",
]
