"""Filters and the versions they write: a filter run is a new, complete child version.

A filter plugin subclasses ``zest_core.Filter`` and registers it through the ``register_filters``
hook.
``apply_filters`` runs several in order over a complete parent version, then writes the kept
documents to a child version that records its parent, the filters with their settings and, in
the ``drops`` table, why each left-out document was dropped.
"""

import time
from collections.abc import Iterable
from typing import Any

from ..errors import ZestError
from ..plugin.filter import Drop, Filter
from ..plugin.manager import get_filter
from .store import Store


def resolve_params(names: list[str], params: dict[str, str]) -> list[tuple[str, dict]]:
    """Assign ``-o`` values to the chosen filters: ``FILTER.KEY=VALUE`` names its filter; a
    plain ``KEY=VALUE`` goes to the one chosen filter that has that option."""
    classes = {name: get_filter(name) for name in names}
    assigned: dict[str, dict[str, str]] = {name: {} for name in names}
    for key, value in params.items():
        owner, dot, option = key.partition(".")
        if dot:
            if owner not in classes:
                raise ZestError(
                    f"option {key} names filter '{owner}', which is not given"
                    f" with --with ({', '.join(names) or 'none given'})"
                )
            assigned[owner][option] = value
            continue
        owners = [name for name, cls in classes.items() if key in cls.option_specs()]
        if not owners:
            known = "; ".join(
                f"{name}: {', '.join(cls.option_specs()) or 'none'}"
                for name, cls in classes.items()
            )
            raise ZestError(
                f"option {key} is not an option of {', '.join(classes) or 'any'}"
                f" filter given with --with (options of {known or 'none'})"
            )
        if len(owners) > 1:
            raise ZestError(
                f"option {key} is ambiguous between {', '.join(owners)} (write FILTER.KEY=VALUE)"
            )
        assigned[owners[0]][key] = value
    return [(name, assigned[name]) for name in names]


def build_filters(specs: Iterable[tuple[str, dict[str, Any]]]) -> list[Filter]:
    """Instantiate ``(name, params)`` pairs: an unknown filter or setting is a ZestError."""
    built = [get_filter(name)(**params) for name, params in specs]
    if not built:
        raise ZestError("no filter given (use --with NAME; see zest plugins)")
    return built


def run_filters(
    filters: list[Filter], documents: list[dict], exemplars: list[dict]
) -> list[tuple[str, Drop]]:
    """Run filters in order, each over what the earlier ones kept: ``[(filter, drop)]``."""
    remaining = list(documents)
    dropped: list[tuple[str, Drop]] = []
    for flt in filters:
        ids = {doc["id"] for doc in remaining}
        drops = {}
        for drop in flt.drops(remaining, exemplars):
            if drop.document_id not in ids:
                raise ZestError(
                    f"filter '{flt.name}' dropped document {drop.document_id},"
                    " which is not among its input"
                )
            drops.setdefault(drop.document_id, drop)
        dropped.extend((flt.name, drop) for drop in drops.values())
        remaining = [doc for doc in remaining if doc["id"] not in drops]
    return dropped


def apply_filters(
    store: Store, parent_ref: int | str, specs: Iterable[tuple[str, dict[str, Any]]]
) -> int:
    """Filter a complete version into a new complete child version; return the child's id.

    All or nothing: the child is created, filled and completed in one transaction.
    """
    start = time.perf_counter()
    filters = build_filters(specs)
    parent = store.require_complete(parent_ref)
    documents = store.documents(parent["id"])
    dropped = run_filters(filters, documents, store.exemplars(parent["id"]))
    ordinals = {doc["id"]: doc["ordinal"] for doc in documents}
    config = {"filters": [{"name": f.name, "settings": f.settings()} for f in filters]}
    exemplars = store.exemplars(parent["id"])
    resolved = {
        "filters": [
            {"name": f.name, "options": type(f).resolve_options(f.options, exemplars)}
            for f in filters
        ]
    }
    gone = {drop.document_id for _, drop in dropped}
    # One transaction from creation to completion: a kill leaves no child at all.
    with store.transaction():
        child = store.create_child(parent, kind="filter", config=config, resolved=resolved)
        store.copy_into(
            parent["id"], child, keep=[doc["id"] for doc in documents if doc["id"] not in gone]
        )
        store.add_drops(
            child,
            (
                {
                    "document_id": drop.document_id,
                    "ordinal": ordinals[drop.document_id],
                    "filter": name,
                    "reason": drop.reason,
                    "detail": drop.detail,
                }
                for name, drop in dropped
            ),
        )
        store.finish(child, "complete", time.perf_counter() - start)
    return child


__all__ = ["apply_filters", "build_filters", "resolve_params", "run_filters"]
