"""``zest adapt``: fine-tune the dense encoder itself on a version's synthetic pairs.

The context reaches only the BM25 side of the hybrid; this reaches the dense side. Each
synthetic document of a version has one synthetic query (``tuning.write_queries``, the
writer ``zest tune`` uses: written once, stored in ``synthetic_queries``); the (query,
document) pairs train a sentence-transformers bi-encoder with sentence-transformers' own
trainer and ``MultipleNegativesRankingLoss`` (in-batch negatives, optionally BM25 hard
negatives mined over the version). Nothing here reads a target corpus or its judgements, and
the hyper-parameters are fixed a priori (those of the prototype in issue #22).

The model is trained into a hidden folder beside the models directory, its weights are
fingerprinted (sha256), the folder is renamed into place and only then is the registry row
(``adapted_models``) marked complete, in one transaction: a kill at any point leaves no
complete-looking model that is not whole, and the same command run again restarts cleanly
(or reuses the complete model it finds for the same inputs). ``adapted:ID`` names the model
wherever an encoder model is given (the dense encoders resolve it with ``model_folder``).
"""

import json
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..corpus.store import Store, now, process_lease
from ..errors import ZestError
from ..plugin.options import Configurable, Option
from .adapt_training import (  # noqa: F401 (re-exported)
    _target,
    fingerprint,
    stored_queries,
    train,
    training_pairs,
)
from .adapted import (  # noqa: F401 (re-exported: the registry beside the training)
    MANIFEST,
    PREFIX,
    model_folder,
    models,
    models_dir,
    remove,
    use_registry,
)

LOSSES = ("mnrl", "margin-mse")


class Adaptation(Configurable):
    """The options of ``zest adapt``, declared once: the CLI flags and the Python API's
    keywords are both made from these (``--learning-rate`` is ``learning_rate``)."""

    name = "adapt"
    kind = "command"
    options = {
        "epochs": Option(1, int, "Passes over the training pairs.", min=1),
        "learning_rate": Option(
            2e-5, float, "Peak learning rate (AdamW, linear decay after 10% warm-up).", min=0
        ),
        "batch_size": Option(
            32,
            int,
            "Pairs per step; every other pair's document is an in-batch negative.",
            min=2,
        ),
        "seed": Option(
            0,
            int,
            "Training seed (shuffling, dropout): the same seed gives the same weights on CPU.",
            min=0,
            max=2**32 - 1,  # numpy's seeds are 32-bit
        ),
        "loss": Option(
            "mnrl",
            str,
            "mnrl: MultipleNegativesRankingLoss; margin-mse needs a teacher (not available).",
            choices=LOSSES,
        ),
        "hard_negatives": Option(
            0,
            int,
            "BM25 hard negatives per query, mined over the version's other documents"
            " with the version as BM25's context (0: in-batch negatives only).",
            min=0,
        ),
        "round_trip": Option(
            0,
            int,
            "Keep a query only when its own document ranks in the top K of the version under"
            " the base model (0: keep every query).",
            min=0,
        ),
        "anchors": Option(
            False, bool, "Also train on each document's anchor (its topic) as a query."
        ),
        "max_seq_length": Option(
            0,
            int,
            "Tokens of each text the model reads while training (0: the model's own limit).",
            min=0,
        ),
        "device": Option(
            "", str, "Where training runs: cpu, cuda, cuda:N or mps (empty: the best found)."
        ),
    }


#: Options that do not change the trained weights on a given machine.
NEUTRAL = {"device"}


# checks -----------------------------------------------------------------------------------
def check_options(given: dict[str, Any]) -> dict[str, Any]:
    """The options with their defaults, each checked (types, bounds, NaN) before any work."""
    options = Adaptation.check_options(given)
    if not options["learning_rate"] > 0:
        raise ZestError(
            f"option learning_rate for 'adapt' must be above 0 (got {options['learning_rate']})"
        )
    _check_device(options["device"])
    if options["loss"] == "margin-mse":
        raise ZestError(
            "loss margin-mse learns a teacher's score margins, and zest adapt has no teacher"
            " (cross-encoder) to give them; use loss mnrl"
        )
    return options


def _check_device(device: str) -> None:
    """A device torch knows and this machine has, before any work (a typo failed inside
    training, after the queries were written)."""
    if not device:
        return
    if not re.fullmatch(r"cpu|mps|cuda(:\d+)?", device):
        raise ZestError(
            f"option device for 'adapt' must be cpu, cuda, cuda:N or mps (got {device!r})"
        )
    if device == "cpu":
        return
    import torch

    if device == "mps":
        found = torch.backends.mps.is_available()
    else:
        index = int(device.partition(":")[2] or 0)
        found = torch.cuda.is_available() and index < torch.cuda.device_count()
    if not found:
        raise ZestError(f"option device for 'adapt': this machine has no {device} (use cpu)")


# the registry -----------------------------------------------------------------------------
def _base_id(model: str | None, base: Path) -> str:
    return "all-MiniLM-L6-v2" if model in (None, "all-MiniLM-L6-v2") else str(base.resolve())


def adapt(
    store: Store,
    ref: int | str,
    model: str | None = None,
    *,
    directory: str | os.PathLike | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_start: Callable[[dict], None] | None = None,
    **given: Any,
) -> dict:
    """Fine-tune ``model`` (default: the dense encoder's MiniLM) on version ``ref``'s
    synthetic (query, document) pairs; the queries must already be stored (see
    ``tuning.write_queries``). Returns the registry row, with ``reused`` True when a complete
    model trained on the same inputs already existed."""
    from .encoding import digest, make_encoder

    options = check_options(given)
    version = store.require_complete(ref)
    docs = store.documents(version["id"])
    if not docs:
        raise ZestError(f"version {version['id']} has no documents to adapt on")
    base = make_encoder("dense", model).path  # the dense encoder's own model resolution
    queries = stored_queries(store, version["id"])
    if not queries:
        raise ZestError(
            f"version {version['id']} has no usable synthetic query to train on"
            f" (write them with: zest adapt {version['id']}, or zest tune {version['id']})"
        )
    base_id = _base_id(model, base)
    trained = {k: v for k, v in options.items() if k not in NEUTRAL}
    key = digest(
        [
            base_id,
            [(d["content_hash"], d.get("anchor")) for d in docs],
            sorted(queries.items()),
            trained,
        ]
    )
    folder = models_dir(store, directory)
    with store.transaction():
        row = store.adapted_model_by_key(key)
        if row and row["status"] == "complete" and (Path(row["path"]) / "modules.json").is_file():
            return {**row, "reused": True}
        if row and Store.lease_holder(row) and row["lease_pid"] != os.getpid():
            raise ZestError(
                f"adapted model {row['id']} is being trained by {Store.lease_holder(row)};"
                " wait for it to finish"
            )
        fields = {
            "version_id": version["id"],
            "key": key,
            "base_model": base_id,
            "options": json.dumps(trained, sort_keys=True),
            "seed": options["seed"],
            "status": "running",
            "created": now(),
            "finished": None,
            "error": None,
            "path": None,
            "fingerprint": None,
            **process_lease(),
        }
        if row:
            store.update_adapted_model(row["id"], fields)
            model_id = row["id"]
        else:
            model_id = store.add_adapted_model(fields)
    started = time.monotonic()
    partial = folder / f".partial-{key[:16]}"
    try:
        rows, counts = training_pairs(docs, queries, options, base, model)
        if len(rows) < 2:
            raise ZestError(
                f"version {version['id']} gives {len(rows)} training pair(s)"
                + (f" ({counts['dropped']} dropped by the round trip)" if counts["dropped"] else "")
                + "; in-batch negatives need at least 2"
            )
        if on_start:
            on_start({"id": model_id, "pairs": len(rows), **counts})
        shutil.rmtree(partial, ignore_errors=True)  # a killed run's leftovers
        partial.mkdir(parents=True)
        loss = train(base, rows, options, partial, progress)
        weights = fingerprint(partial)
        seconds = time.monotonic() - started
        manifest = {
            "id": model_id,
            "db": str(store.path.resolve()),
            "version": version["id"],
            "base_model": base_id,
            "options": trained,
            "pairs": len(rows),
            "training_loss": loss,
            "fingerprint": weights,
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        final = folder / f"{version['id']}-{weights[:16]}"
        if final.exists():  # the same weights again (a rerun after a late kill): keep one
            if fingerprint(final) == weights and (final / "modules.json").is_file():
                shutil.rmtree(partial)
            else:
                shutil.rmtree(final)
        if partial.exists():
            partial.rename(final)
        store.update_adapted_model(
            model_id,
            {
                "status": "complete",
                "path": str(final.resolve()),
                "fingerprint": weights,
                "training_loss": loss,
                "pairs": len(rows),
                "counts": json.dumps(counts, sort_keys=True),
                "wall_seconds": seconds,
                "finished": now(),
                "lease_pid": None,
            },
        )
    except BaseException as e:
        shutil.rmtree(partial, ignore_errors=True)
        store.update_adapted_model(
            model_id,
            {
                "status": "failed",
                "error": str(e) or type(e).__name__,
                "finished": now(),
                "lease_pid": None,
            },
        )
        raise
    return {**store.adapted_model(model_id), "reused": False}


def describe(row: dict) -> str:
    """One line: what a model was trained on and how."""
    options = json.loads(row["options"] or "{}")
    changed = {
        k: v for k, v in options.items() if Adaptation.options[k].default != v and k != "seed"
    }
    extra = ", ".join(f"{k}={v}" for k, v in sorted(changed.items()))
    return f"version {row['version_id']}, seed {row['seed']}" + (f", {extra}" if extra else "")


__all__ = [
    "Adaptation",
    "adapt",
    "check_options",
    "fingerprint",
    "model_folder",
    "models",
    "models_dir",
    "remove",
    "training_pairs",
    "use_registry",
]
