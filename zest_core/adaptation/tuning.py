"""Zero-shot tuning: choose encoder settings on synthetic queries, never on the target.

The generator writes one query for each synthetic document (``templates/query.toml``), stored
in ``synthetic_queries`` by document id. ``tune`` then searches the grid the encoder declares
(``Encoder.tuning_grid``, e.g. a fusion ``weight`` and BM25's ``k1`` and ``b``) for the one
under which each query finds
its own document best *within the synthetic corpus*, that corpus also being the context, as
it will be for the target; the choice goes to ``tunings`` with every grid point's score, and
``zest eval --tuned`` applies it. Nothing here reads a target corpus or relevance judgements.
"""

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from itertools import product
from pathlib import Path

import numpy as np

from ..contexts.encoding import make_encoder
from ..corpus.store import Store, now
from ..errors import ZestError
from ..plugin import manager as plugins
from ..plugin.encoder import DEFAULT_ENCODER
from ..plugin.generation import Generator, Request
from ..plugin.strategy import derive_seed, load_templates
from ..text import first_words, title, words

QUERY_TEMPLATES = Path(__file__).parents[1] / "templates" / "query.toml"
MIN_DOCUMENTS = 16
METRICS = ("mrr", "ndcg@10")
# Settings that do not change scores, left out when matching a tuning to an evaluation.
NEUTRAL = {"batch_size", "device"}


def tuning_grid(encoder_name: str) -> dict[str, list]:
    """What ``zest tune`` searches for the encoder (its class's ``tuning_grid``; empty for an
    encoder that declares none, or one not installed)."""
    cls = plugins.encoders().get(encoder_name)
    return dict(cls.tuning_grid) if cls else {}


def tunable() -> list[str]:
    """The installed encoders that declare a tuning grid."""
    return [name for name, cls in plugins.encoders().items() if cls.tuning_grid]


# synthetic queries ------------------------------------------------------------------------
def load_query_template(path: str | Path | None = None) -> tuple[dict, str]:
    """The ``[query]`` table and its hash."""
    path = path or QUERY_TEMPLATES
    table = load_templates(path).get("query", {})
    missing = {"prompt", "max_tokens", "temperature"} - set(table)
    if missing:
        raise ZestError(f"query template {path}: [query] lacks {', '.join(sorted(missing))}")
    digest = hashlib.sha256(json.dumps(table, sort_keys=True).encode()).hexdigest()
    return table, digest


def clean_query(text: str) -> str:
    """First line, without quotes, list markers or a "Question:" label."""
    line = text.strip().split("\n", 1)[0].strip()
    line = re.sub(r"^(question\s*:|q\s*:|[\-*\d.)\s]+)\s*", "", line, flags=re.I)
    return line.strip(" \"'`*")


def missing_queries(store: Store, version_id: int) -> list[dict]:
    """The version's documents that have no stored query yet."""
    return store.missing_queries(version_id)


def write_queries(
    store: Store,
    ref: int | str,
    generator: Generator,
    *,
    seed: int = 0,
    templates: str | Path | None = None,
    on_query: Callable[[dict], None] | None = None,
) -> int:
    """Have ``generator`` write a query for each document of the version that lacks one;
    each is stored as it arrives, so an interrupted run continues where it stopped.
    A document copied from a parent version (``zest filter``, ``--top-up``) gets the query
    its original already has when that one was written the same way (text, plan position,
    template, generator, model and seed), since sampling again would give the same query.
    Returns how many were written (reused ones not counted)."""
    version = store.require_complete(ref)
    table, template_hash = load_query_template(templates)
    attempts = max(1, table.get("attempts", 3))
    todo = {doc["id"]: doc for doc in missing_queries(store, version["id"])}
    for doc in list(todo.values()):
        seeds = [derive_seed(seed, "query", doc["ordinal"], a) for a in range(attempts)]
        same = store.same_query(doc, template_hash, generator.name, generator.model_id, seeds)
        if same:
            row = {**same[0], "document_id": doc["id"], "created": now()}
            del row["id"]
            store.add_query(row)
            del todo[doc["id"]]
    spent = {doc_id: [0, 0] for doc_id in todo}
    for attempt in range(attempts):
        requests = [_query_request(table, doc, seed, attempt) for doc in todo.values()]
        for request, completion in generator.complete_many(requests):
            cost = spent[request.key]
            cost[0] += completion.prompt_tokens
            cost[1] += completion.completion_tokens
            text = clean_query(completion.text)
            if len(words(text)) < table.get("min_words", 3):
                if attempt < attempts - 1:
                    continue  # drawn again next round
                text = ""
            row = {
                "document_id": request.key,
                "text": text,
                "seed": request.seed,
                "attempts": attempt + 1,
                "prompt_tokens": cost[0],
                "completion_tokens": cost[1],
                "finish_reason": completion.finish_reason,
                "generator": generator.name,
                "model": generator.model_id,
                "template_hash": template_hash,
                "created": now(),
            }
            store.add_query(row)
            del todo[request.key]
            if on_query:
                on_query(row)
        if not todo:
            break
    return len(spent)


def _query_request(table: dict, doc: dict, seed: int, attempt: int) -> Request:
    text = first_words(doc["text"], table.get("document_words", 160))
    heading = doc["anchor"] or title({"text": doc["text"]})
    return Request(
        key=doc["id"],
        prompt=table["prompt"].format(title=heading, text=text),
        max_tokens=table["max_tokens"],
        temperature=table["temperature"],
        seed=derive_seed(seed, "query", doc["ordinal"], attempt),
        stop=tuple(table.get("stop", ())),
    )


def version_generator(
    store: Store, ref: int | str, generator: str | None = None, model: str | None = None
) -> Generator:
    """The generator that wrote the version (for a filtered one: its nearest maker's), unless
    another is named."""
    source = store.version(ref)
    while "generator" not in source["config"] and source["parent_id"]:
        source = store.version(source["parent_id"])
    config = source["config"]
    if generator and generator != config.get("generator"):
        return plugins.new_generator(generator, model)
    if "generator" not in config:
        raise ZestError(f"version {source['id']} has no generation config; name --generator")
    from ..corpus.pipeline import prepared_generator
    from ..corpus.runconfig import pinned_options

    # The options the version ran with (vocab as it resolved then, not as a newer default
    # would resolve), prepared on its exemplars as the run's generator was.
    options = pinned_options(config, source["resolved"])
    return prepared_generator(
        {**config, "model": model or config["model"], "options": options},
        store.exemplars(source["id"]),
    )


# tuning -----------------------------------------------------------------------------------
def ranks(scores: np.ndarray) -> np.ndarray:
    """Rank (1 = first) of document i for query i; ties count against it."""
    return (scores >= np.diag(scores)[:, None]).sum(axis=1)


def metric_value(rank: np.ndarray, metric: str) -> float:
    if metric == "mrr":
        return float(np.mean(1.0 / rank))
    return float(np.mean(np.where(rank <= 10, 1.0 / np.log2(rank + 1), 0.0)))


def tune(
    store: Store,
    ref: int | str,
    encoder_name: str = DEFAULT_ENCODER,
    model: str | None = None,
    metric: str = "mrr",
    progress: Callable[[int, int], None] | None = None,
    **options,
) -> dict:
    """Search the encoder's grid on the version's synthetic queries; store and return the
    tuning (``id``, ``settings``, ``score``, ``default_score``, ``queries``, ``top``)."""
    if metric not in METRICS:
        raise ZestError(f"--metric {metric}: expected one of {', '.join(METRICS)}")
    grid = tuning_grid(encoder_name)
    if not grid:
        raise ZestError(
            f"zest tune supports the encoders {', '.join(tunable())}, not {encoder_name}"
        )
    version = store.require_complete(ref)
    docs = store.documents(version["id"])
    if len(docs) < MIN_DOCUMENTS:
        raise ZestError(
            f"version {version['id']} has {len(docs)} documents; tuning needs at"
            f" least {MIN_DOCUMENTS} to tell settings apart"
        )
    queries = store.stored_queries(version["id"])
    if not queries:
        raise ZestError(
            f"version {version['id']} has no synthetic query to tune on (the"
            f" generator wrote none that was usable)"
        )
    given = set(options) & set(grid)
    if given:
        raise ZestError(f"-o {', '.join(sorted(given))}: zest tune chooses these itself")
    encoder = make_encoder(encoder_name, model, **options)
    try:
        defaults = {key: encoder.options[key] for key in grid}  # before the search sets them
        base = _base(encoder.settings(), grid)
        points = _search(encoder, docs, queries, grid, metric, progress)
    finally:
        encoder.close()
    # Best score first; among equals the point nearest the encoder's defaults.
    points.sort(key=lambda p: (-p["score"], sum(abs(p[k] - defaults[k]) for k in grid)))
    best = points[0]
    default_score = next(p["score"] for p in points if all(p[k] == defaults[k] for k in grid))
    chosen = {key: best[key] for key in grid}
    tuning_id = store.add_tuning(
        {
            "version_id": version["id"],
            "encoder": encoder_name,
            "base": json.dumps(base, sort_keys=True),
            "settings": json.dumps(chosen),
            "metric": metric,
            "score": best["score"],
            "default_score": default_score,
            "queries": len(queries),
            "grid": json.dumps(points),
            "created": now(),
        }
    )
    return {
        "id": tuning_id,
        "version": version["id"],
        "settings": chosen,
        "metric": metric,
        "score": best["score"],
        "default_score": default_score,
        "defaults": defaults,
        "queries": len(queries),
        "documents": len(docs),
        "top": points[:5],
    }


def _search(
    encoder, docs: list[dict], queries: dict[int, str], grid: dict, metric: str, progress
) -> list[dict]:
    """Score every grid point (each a dict in the grid's key order, with its ``score``). A
    ``weight`` key is the dense share of a score linear in it (``Encoder.tuning_grid``), so
    each point of the other keys needs two scorings: weight 0 (the rest) and 1 (dense)."""
    context = [d["text"] for d in docs]
    targets = [f"{d['anchor']} {d['text']}" if d["anchor"] else d["text"] for d in docs]
    position = {d["id"]: i for i, d in enumerate(docs)}
    asked = list(queries)
    texts = [queries[doc_id] for doc_id in asked]
    encoder.use(encoder.derive(context))
    query_vectors = encoder.embed_queries(texts)
    doc_vectors = encoder.embed_documents(targets)
    order = [position[doc_id] for doc_id in asked]  # query i's own document in column i
    asked_rows = set(order)
    rest = [i for i in range(len(docs)) if i not in asked_rows]
    doc_vectors, targets = doc_vectors[order + rest], [targets[i] for i in order + rest]

    def sides(**settings) -> np.ndarray:
        encoder.options.update(settings)
        return encoder.scores(texts, query_vectors, targets, doc_vectors)

    others = [key for key in grid if key != "weight"]
    weights = grid.get("weight")
    dense = sides(weight=1.0) if weights else None
    points, pairs = [], [dict(zip(others, values)) for values in product(*map(grid.get, others))]
    for done, pair in enumerate(pairs):
        if weights:
            rest = sides(weight=0.0, **pair)
            for weight in weights:
                rank = ranks(weight * dense + (1 - weight) * rest)
                point = {"weight": weight, **pair}
                points.append({k: point[k] for k in grid} | {"score": metric_value(rank, metric)})
        else:
            points.append({**pair, "score": metric_value(ranks(sides(**pair)), metric)})
        if progress:
            progress(done + 1, len(pairs))
    return points


def _base(settings: dict, grid: dict) -> dict:
    return {k: v for k, v in settings.items() if k not in grid and k not in NEUTRAL}


def tuned_options(store: Store, ref: int | str, encoder_name: str, settings: dict) -> dict:
    """The newest tuning of the version for this encoder under the same other settings;
    a clear error when there is none."""
    version = store.version(ref)
    grid = tuning_grid(encoder_name)
    base = json.dumps(_base(settings, grid), sort_keys=True)
    stored = store.latest_tuning(version["id"], encoder_name, base)
    if stored is None:
        raise ZestError(
            f"version {version['id']} has no {encoder_name} tuning with these"
            f" settings; run: zest tune {version['id']} --encoder {encoder_name}"
            f" (with the same -o/--model)"
        )
    return json.loads(stored)


def tuned_groups(
    store: Store, contexts: Sequence[str], encoder_name: str, model: str | None, options: dict
) -> list[tuple[dict, list[str]]]:
    """``zest eval --tuned``: the contexts grouped by the options to evaluate them with. A
    version context gets its tuning on top of ``options``; ``none``, ``real`` and ``generic``
    have none and keep ``options``."""
    if not tuning_grid(encoder_name):
        raise ZestError(f"--tuned: only {', '.join(tunable())} can be tuned, not {encoder_name}")
    settings = make_encoder(encoder_name, model, **options).settings()
    groups: dict[str, tuple[dict, list[str]]] = {}
    for spec in contexts:
        plain = spec in ("none", "real", "generic") or spec.startswith(("real:", "generic:"))
        chosen = {
            **options,
            **({} if plain else tuned_options(store, spec, encoder_name, settings)),
        }
        groups.setdefault(json.dumps(chosen, sort_keys=True), (chosen, []))[1].append(spec)
    return list(groups.values())


__all__ = [
    "MIN_DOCUMENTS",
    "clean_query",
    "tune",
    "tuned_groups",
    "tunable",
    "tuned_options",
    "tuning_grid",
    "write_queries",
]
