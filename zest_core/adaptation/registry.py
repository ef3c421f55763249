"""The registry of models ``zest adapt`` trained (the ``adapted_models`` table) and the
``adapted:ID`` references that name them wherever an encoder model is given."""

import os
import shutil
from pathlib import Path
from typing import Any

from ..corpus.store import Store
from ..errors import ZestError

PREFIX = "adapted:"
MANIFEST = "zest-adapted.json"

# Which store ``adapted:ID`` is looked up in; the CLI sets it from --db (``use_registry``).
_registry: dict[str, Any] = {"db": None}


def use_registry(db) -> None:
    """Look ``adapted:ID`` up in the store at ``db`` (None: the default store)."""
    _registry["db"] = db


def models_dir(store: Store, given: str | os.PathLike | None = None) -> Path:
    """Where adapted models go: ``given``, else ``models/`` beside the store's file (for the
    default store, the user data directory that platformdirs names)."""
    return Path(given).expanduser() if given else store.path.parent / "models"


def parse_ref(spec: str) -> int:
    ref = spec[len(PREFIX) :] if spec.startswith(PREFIX) else spec
    if not ref.strip().isdigit():
        raise ZestError(f"{spec!r}: expected adapted:ID with the number zest models lists")
    return int(ref)


def model_folder(spec: str | int, store: Store | None = None) -> tuple[Path, dict]:
    """The folder and registry row of a complete adapted model (``adapted:ID`` or ID); one
    clear error for an unknown, unfinished or missing one."""
    model_id = parse_ref(str(spec))
    store = store or Store(_registry["db"])
    row = store.adapted_model(model_id)
    if row is None:
        raise ZestError(f"no adapted model {model_id} in {store.path} (see: zest models)")
    if row["status"] != "complete":
        holder = Store.lease_holder(row)
        raise ZestError(
            f"adapted model {model_id} is {row['status']}"
            + (f" (being trained by {holder})" if holder else "")
            + f", not complete; run again: zest adapt {row['version_id']} (same options)"
        )
    path = Path(row["path"])
    if not (path / "modules.json").is_file():
        raise ZestError(f"adapted model {model_id}: its folder {path} is missing or incomplete")
    return path, row


def adapted_model_folder(spec: str | int) -> Path:
    """The folder of the complete adapted model that ``adapted:ID`` (or ID) names, looked up in
    the store the command runs on; one clear error for an unknown or unfinished one."""
    return model_folder(spec)[0]


def models(store: Store) -> list[dict]:
    """Every registered adapted model, oldest first; a ``running`` one whose trainer is gone
    reads ``failed``."""
    rows = store.adapted_models()
    for row in rows:
        if row["status"] == "running" and not Store.lease_holder(row):
            row["status"] = "failed"
            row["error"] = row["error"] or "interrupted: its trainer stopped"
    return rows


def remove(store: Store, model_id: int) -> dict:
    """Delete a model's registry row and, unless another row shares it, its folder."""
    with store.transaction():
        row = store.adapted_model(model_id)
        if row is None:
            raise ZestError(f"no adapted model {model_id} in {store.path} (see: zest models)")
        holder = Store.lease_holder(row)
        if holder and row["lease_pid"] != os.getpid():
            raise ZestError(f"adapted model {model_id} is being trained by {holder}")
        shared = store.remove_adapted_model(model_id, row["path"])
    if row["path"] and not shared:
        shutil.rmtree(row["path"], ignore_errors=True)
    return row
