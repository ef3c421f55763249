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
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..corpus import pipeline
from ..corpus.exemplars import read_exemplars
from ..corpus.store import Store
from ..errors import ZestError
from ..plugin import manager as plugins
from .evaluate import FILES, load_beir
from .selection import METHODS, dense_embedder, pick

GENERATION_KEYS = (
    "generator",
    "model",
    "options",
    "strategy",
    "templates",
    "k",
    "anchors",
    "docs",
    "selection",
)
GENERATION_DEFAULTS = {
    "generator": "llama-cpp",
    "model": None,
    "options": {},
    "strategy": "hierarchical",
    "templates": None,
    "k": 5,
    "anchors": 20,
    "docs": 512,
    "selection": "random",
}
BASELINES = ("none", "generic", "real")  # deterministic contexts, one result per dataset
SYNTHETIC = ("synthetic", "other-domain")
TABLES = {
    "experiment": {"name", "seeds", "contexts", "eval_seed", "report", "notes"},
    "dataset": {"name", "path", "exemplars", "other_domain", "pool"},
    "encoder": {"name", "model", "options", "tuned", "tune_docs"},
    "generation": set(GENERATION_KEYS),
    "ablations": set(GENERATION_KEYS) | {"at"},
}
POOL = 500  # corpus documents sampled as the exemplar pool when a dataset names none


@dataclass(frozen=True)
class Dataset:
    name: str
    path: Path
    exemplars: Path | None  # None: sampled from the corpus, among unjudged documents
    other_domain: str | None  # the dataset whose exemplars make the other-domain context
    pool: int = POOL


@dataclass(frozen=True)
class Arm:
    """One synthetic context per (dataset, seed): a generation config and whose exemplars."""

    label: str  # "synthetic", "k=1", "docs=64", "other-domain", ...
    axis: str | None  # the ablated key (None for the base and other-domain)
    value: Any
    config: dict = field(hash=False)
    exemplars_from: str | None = None  # another dataset's name (other-domain)


@dataclass
class Grid:
    path: Path
    name: str
    notes: str
    seeds: list[int]
    eval_seed: int
    baselines: list[str]  # none, generic, real:N, version refs
    datasets: list[Dataset]
    encoders: list[dict]
    base: dict
    arms: list[Arm]
    report: Path


# parsing -----------------------------------------------------------------------------------
def _fail(path: Path, message: str) -> ZestError:
    return ZestError(f"{path}: {message}")


def _table(path: Path, data: Any, name: str) -> dict:
    if not isinstance(data, dict):
        raise _fail(path, f"[{name}] must be a table")
    unknown = sorted(set(data) - TABLES[name])
    if unknown:
        raise _fail(
            path,
            f"unknown {'axis' if name == 'ablations' else 'key'} "
            f"{', '.join(map(repr, unknown))} in [{name}] "
            f"(known: {', '.join(sorted(TABLES[name]))})",
        )
    return data


def _relative(path: Path, value: str | None) -> Path | None:
    return None if value in (None, "") else (path.parent / Path(value).expanduser()).resolve()


def load(file: str | Path, report: str | Path | None = None) -> Grid:
    """Parse and check an experiment file; nothing runs yet."""
    path = Path(file)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ZestError(f"experiment file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise _fail(path, f"not valid TOML ({e})") from None
    unknown = sorted(set(data) - set(TABLES))
    if unknown:
        raise _fail(
            path, f"unknown table {', '.join(map(repr, unknown))} (known: {', '.join(TABLES)})"
        )
    top = _table(path, data.get("experiment", {}), "experiment")
    datasets = [
        _dataset(path, _table(path, d, "dataset"))
        for d in _list(path, data.get("dataset"), "dataset")
    ]
    if not datasets:
        raise _fail(path, "name at least one [[dataset]]")
    names = [d.name for d in datasets]
    if len(set(names)) != len(names):
        raise _fail(path, "dataset names must differ")
    for d in datasets:
        if d.other_domain and d.other_domain not in names:
            raise _fail(
                path,
                f"dataset {d.name}: other_domain {d.other_domain!r} is not a "
                f"dataset of this file ({', '.join(names)})",
            )
    encoders = [_table(path, e, "encoder") for e in _list(path, data.get("encoder"), "encoder")]
    encoders = encoders or [{"name": "hybrid"}]
    known_encoders = plugins.encoders()
    for e in encoders:
        if e.get("name", "hybrid") not in known_encoders:
            raise _fail(
                path,
                f"unknown encoder {e.get('name')!r} "
                f"(available: {', '.join(sorted(known_encoders))})",
            )
        _check_tuning(path, e)
    base = {**GENERATION_DEFAULTS, **_table(path, data.get("generation", {}), "generation")}
    base = _generation(path, base, "[generation]")
    seeds = top.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise _fail(path, "[experiment] seeds must be a non-empty list of integers")
    contexts = top.get("contexts", ["none", "generic", "real", "synthetic"])
    baselines, wanted = _contexts(path, contexts, datasets)
    arms = _arms(path, base, _table(path, data.get("ablations", {}), "ablations"), wanted, datasets)
    name = top.get("name", path.stem)
    target = (
        Path(report)
        if report
        else (_relative(path, top.get("report")) or path.parent / "reports" / name)
    )
    return Grid(
        path,
        name,
        top.get("notes", ""),
        seeds,
        int(top.get("eval_seed", 0)),
        baselines,
        datasets,
        encoders,
        base,
        arms,
        target,
    )


def _check_tuning(path: Path, encoder: dict) -> None:
    from .tuning import GRIDS, MIN_DOCUMENTS

    tuned, limit = encoder.get("tuned", False), encoder.get("tune_docs")
    if not isinstance(tuned, bool):
        raise _fail(path, "[encoder] tuned must be true or false")
    if tuned and encoder.get("name", "hybrid") not in GRIDS:
        raise _fail(path, f"[encoder] tuned: only {', '.join(GRIDS)} can be tuned")
    if limit is not None and (not tuned or not isinstance(limit, int) or limit < MIN_DOCUMENTS):
        raise _fail(
            path, f"[encoder] tune_docs needs tuned = true and an integer >= {MIN_DOCUMENTS}"
        )


def _list(path: Path, value: Any, name: str) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _dataset(path: Path, d: dict) -> Dataset:
    where = _relative(path, d.get("path"))
    if where is None:
        raise _fail(path, "each [[dataset]] needs a path (a BEIR directory)")
    if not where.is_dir():
        raise ZestError(f"dataset directory {where} does not exist")
    if missing := [f for f in FILES if not (where / f).is_file()]:
        raise ZestError(f"dataset {where} lacks {', '.join(missing)}")
    exemplars = _relative(path, d.get("exemplars"))
    if exemplars is not None and not exemplars.exists():
        raise ZestError(f"exemplar path {exemplars} does not exist")
    return Dataset(
        d.get("name", where.name), where, exemplars, d.get("other_domain"), int(d.get("pool", POOL))
    )


def _generation(path: Path, config: dict, where: str, subset: bool = False) -> dict:
    """Check one generation config's values and normalise it. A ``subset`` (a smaller J'
    taken from a larger run) may have fewer documents than anchors."""
    config = dict(config)
    plugins.get_generator(config["generator"])  # unknown names: one clear error
    strategy = plugins.get_anchor_strategy(config["strategy"])
    if config["selection"] not in METHODS:
        raise _fail(
            path,
            f"{where}: unknown selection {config['selection']!r} "
            f"(choose from {', '.join(METHODS)})",
        )
    for key in ("k", "anchors", "docs"):
        if not isinstance(config[key], int) or config[key] < 1:
            raise _fail(path, f"{where}: {key} must be a positive integer")
    if strategy.uses_anchors and config["anchors"] > config["docs"] and not subset:
        raise _fail(path, f"{where}: anchors ({config['anchors']}) exceeds docs ({config['docs']})")
    if not isinstance(config["options"], dict):
        raise _fail(path, f"{where}: options must be a table")
    config["model"] = config["model"] or None
    config["templates"] = str(_relative(path, config["templates"])) if config["templates"] else None
    config["anchors"] = config["anchors"] if strategy.uses_anchors else 0
    return config


def _contexts(path: Path, contexts: Any, datasets: list[Dataset]) -> tuple[list[str], set]:
    if not isinstance(contexts, list) or not contexts:
        raise _fail(path, "[experiment] contexts must be a non-empty list")
    baselines, wanted = [], set()
    for spec in map(str, contexts):
        kind = spec.partition(":")[0]
        if spec in SYNTHETIC:
            wanted.add(spec)
        elif kind in BASELINES or spec.isdigit():
            baselines.append(spec)
        else:
            raise _fail(
                path,
                f"unknown context {spec!r} (none, generic, real, real:N, "
                f"synthetic, other-domain or a corpus version id)",
            )
    if "other-domain" in wanted and not all(d.other_domain for d in datasets):
        raise _fail(path, "the other-domain context needs other_domain on every [[dataset]]")
    return baselines, wanted


def _arms(
    path: Path, base: dict, ablations: dict, wanted: set, datasets: list[Dataset]
) -> list[Arm]:
    """The base, other-domain, and one arm per ablated value. Axes other than J' (``docs``)
    vary around the ``at`` settings (e.g. a smaller J'); the arm at those settings with no
    axis changed is the ``reference`` (the base itself when ``at`` changes nothing)."""
    arms = [Arm("synthetic", None, None, base)] if wanted else []
    if "other-domain" in wanted:
        arms.append(Arm("other-domain", None, None, base, exemplars_from="other"))
    at = ablations.get("at", {})
    if not isinstance(at, dict) or set(at) - set(GENERATION_KEYS):
        raise _fail(path, f"[ablations.at] takes generation keys ({', '.join(GENERATION_KEYS)})")
    reference = _generation(path, {**base, **at}, "[ablations.at]")
    if reference != base and set(ablations) - {"at", "docs"}:
        arms.append(Arm("reference", "*", None, reference))
    for axis, values in ablations.items():
        if axis == "at":
            continue
        if not isinstance(values, list):
            raise _fail(path, f"[ablations] {axis} must be a list of values")
        local = base if axis == "docs" else {**base, **at}
        for value in values:
            changed = (
                {**local, **value}
                if isinstance(value, dict) and axis != "options"
                else {**local, axis: value}
            )
            config = _generation(
                path,
                changed,
                f"[ablations] {axis}={value!r}",
                subset=axis == "docs" and value < base["docs"],
            )
            arms.append(Arm(f"{axis}={_show(value)}", axis, value, config))
    seen, unique = set(), []
    for arm in arms:
        if arm.label not in seen:
            seen.add(arm.label)
            unique.append(arm)
    return unique


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "/".join(str(v) for v in value.values() if v not in (None, {}, ""))
    return str(value)


# exemplars --------------------------------------------------------------------------------
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
    return pipeline.run_config(
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
    wanted = pipeline.resolve_config(_run_config(config, seed), exemplars)
    key = _exemplar_key(exemplars)
    found = None
    for row in store.db.execute_returning_dicts(
        "SELECT id, status, resolved FROM versions WHERE kind = 'run' ORDER BY id"
    ):
        stored = json.loads(row["resolved"] or "{}")  # "loaded" facts: stored only, not compared
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
    rows = store.db.execute(
        "SELECT id FROM versions WHERE kind = 'subset' AND parent_id = ? AND status = 'complete'"
        " AND json_extract(config, '$.n_docs') = ? ORDER BY id LIMIT 1",
        [parent_id, n],
    )
    if found := rows.fetchone():
        return found[0]
    parent = store.require_complete(parent_id)
    keep = balanced_subset(store.documents(parent_id), n)
    config = {
        "subset_of": parent_id,
        "n_docs": n,
        "method": "balanced-over-anchors",
        "parent_ordinals": [d["ordinal"] for d in keep],
    }
    with store.transaction():
        child = store.create_version(
            parent["corpus"],
            kind="subset",
            parent_id=parent_id,
            config=config,
            strategy=parent["strategy"],
            generator=parent["generator"],
            model=parent["model"],
            seed=parent["seed"],
            target_docs=n,
            n_anchors=parent["n_anchors"],
            prompt_hashes=parent["prompt_hashes"],
            provenance=parent["provenance"],
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
    by_name = {d.name: d for d in grid.datasets}

    def exemplars(dataset: Dataset, config: dict, seed: int) -> list[dict]:
        key = (dataset.name, config["k"], config["selection"], seed)
        if key not in chosen:
            if dataset.name not in pools:
                pools[dataset.name] = exemplar_pool(dataset)
            pool = pools[dataset.name]
            if len(pool) <= config["k"] and config["selection"] == "random":
                chosen[key] = pool  # as zest run: all of them when there are no more than k
            else:
                chosen[key] = pick(
                    pool, config["k"], config["selection"], seed, embed or dense_embedder(store)
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


def obtain(store: Store, job: Job, on_document: Callable[[dict], None]) -> int:
    """The version of one job: found, resumed, generated, or subset from its source."""
    if job.version is not None:
        return job.version
    if job.source is not None:
        job.version = subset_version(
            store, obtain(store, job.source, on_document), job.arm.config["docs"]
        )
        return job.version
    config = job.arm.config
    found = find_run(store, config, job.seed, job.exemplars)
    if found and found["status"] == "complete":
        job.version = found["id"]
    elif found:
        job.version = pipeline.resume(store, found["id"], on_document=on_document)
    else:
        name = job.arm.exemplars_from and job.dataset.other_domain or job.dataset.name
        job.version = pipeline.start(
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
        )
    return job.version


def encoder_label(encoder: dict) -> str:
    options = ",".join(f"{k}={v}" for k, v in sorted(encoder.get("options", {}).items()))
    model = f"({encoder['model']})" if encoder.get("model") else ""
    label = f"{encoder.get('name', 'hybrid')}{model}" + (f"[{options}]" if options else "")
    if encoder.get("tuned"):
        label += " tuned" + (f" on {encoder['tune_docs']} docs" if encoder.get("tune_docs") else "")
    return label


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
    )
    progress.start(to_generate(store, jobs), n_evals)
    for job in jobs:
        progress.step(f"{job.dataset.name}: {job.arm.label}, seed {job.seed}")
        obtain(store, job, progress.document)
    records = []
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
                        "value": _show(job.arm.value) if job and job.arm.axis else None,
                        "config": job.arm.config if job else None,
                        "seed": job.seed if job else None,
                        "context": row["label"],
                        "version": job.version if job else None,
                        "result_id": row["id"],
                        "ndcg_at_10": row["ndcg_at_10"],
                        "recall_at_100": row["recall_at_100"],
                        "per_query": row["per_query"],
                        "reused": row["reused"],
                    }
                )
    return records


class Progress:
    """What ``run`` reports as it goes; the CLI draws it as bars, tests may count it."""

    def start(self, documents: int, evaluations: int) -> None: ...
    def step(self, what: str) -> None: ...
    def document(self, doc: dict) -> None: ...
    def evaluated(self) -> None: ...


__all__ = [
    "Arm",
    "Dataset",
    "Grid",
    "Job",
    "Progress",
    "balanced_subset",
    "encoder_label",
    "find_run",
    "load",
    "obtain",
    "plan",
    "run",
    "subset_version",
    "to_generate",
    "tuned_settings",
]
