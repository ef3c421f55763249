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

import hashlib
import json
import os
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..corpus.store import HOST, Store, now
from ..errors import ZestError
from ..plugin.options import Configurable, Option

PREFIX = "adapted:"
MANIFEST = "zest-adapted.json"
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

# Which store ``adapted:ID`` is looked up in; the CLI sets it from --db (``use_registry``).
_registry: dict[str, Any] = {"db": None}


def use_registry(db) -> None:
    """Look ``adapted:ID`` up in the store at ``db`` (None: the default store)."""
    _registry["db"] = db


def models_dir(store: Store, given: str | os.PathLike | None = None) -> Path:
    """Where adapted models go: ``given``, else ``models/`` beside the store's file (for the
    default store, the user data directory that platformdirs names)."""
    return Path(given).expanduser() if given else store.path.parent / "models"


def _row(store: Store, model_id: int) -> dict | None:
    rows = store.db.execute_returning_dicts("SELECT * FROM adapted_models WHERE id = ?", [model_id])
    return rows[0] if rows else None


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
    row = _row(store, model_id)
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


# checks -----------------------------------------------------------------------------------
def check_options(given: dict[str, Any]) -> dict[str, Any]:
    """The options with their defaults, each checked (types, bounds, NaN) before any work."""
    options = Adaptation.check_options(given)
    if not options["learning_rate"] > 0:
        raise ZestError(
            f"option learning_rate for 'adapt' must be above 0 (got {options['learning_rate']})"
        )
    if options["loss"] == "margin-mse":
        raise ZestError(
            "loss margin-mse learns a teacher's score margins, and zest adapt has no teacher"
            " (cross-encoder) to give them; use loss mnrl"
        )
    return options


# training data ----------------------------------------------------------------------------
def _target(doc: dict) -> str:
    # the document as zest tune searches it: its anchor (a title) and text
    return f"{doc['anchor']} {doc['text']}" if doc.get("anchor") else doc["text"]


def stored_queries(store: Store, version_id: int) -> dict[int, str]:
    """Document id -> its usable synthetic query."""
    return dict(
        store.db.execute(
            """SELECT q.document_id, q.text FROM synthetic_queries q JOIN documents d
               ON d.id = q.document_id WHERE d.version_id = ? AND q.text != ''""",
            [version_id],
        ).fetchall()
    )


def training_pairs(
    docs: list[dict],
    queries: dict[int, str],
    options: dict[str, Any],
    base: Path,
    model: str | None = None,
) -> tuple[list[dict], dict[str, int]]:
    """The rows to train on (``anchor``, ``positive``, ``negative_1``..) and counts:
    ``queries`` usable, ``dropped`` by the round trip, ``anchor_pairs`` added."""
    position = {d["id"]: i for i, d in enumerate(docs)}
    targets = [_target(d) for d in docs]
    asked = [doc_id for doc_id in (d["id"] for d in docs) if doc_id in queries]
    texts = [queries[doc_id] for doc_id in asked]
    own = [position[doc_id] for doc_id in asked]
    dropped = 0
    if options["round_trip"] and asked:
        ranks = _base_ranks(base, texts, targets, own, options)
        keep = [i for i, r in enumerate(ranks) if r <= options["round_trip"]]
        dropped = len(asked) - len(keep)
        texts, own = [texts[i] for i in keep], [own[i] for i in keep]
    extra = []
    if options["anchors"]:
        extra = [(d["anchor"], position[d["id"]]) for d in docs if d.get("anchor")]
    pairs = list(zip(texts, own)) + extra
    negatives = (
        _bm25_negatives([q for q, _ in pairs], [j for _, j in pairs], targets, options, model)
        if options["hard_negatives"]
        else [[] for _ in pairs]
    )
    rows = []
    for (query, j), negs in zip(pairs, negatives):
        row = {"anchor": query, "positive": targets[j]}
        row.update({f"negative_{n + 1}": targets[k] for n, k in enumerate(negs)})
        rows.append(row)
    counts = {"queries": len(asked), "dropped": dropped, "anchor_pairs": len(extra)}
    return rows, counts


def _base_ranks(base: Path, texts, targets, own, options) -> list[int]:
    """Rank (1 = first) of each query's own document among all of the version's, under the
    base model; ties count against it."""
    model = _load(base, options)
    encode = dict(normalize_embeddings=True, convert_to_numpy=True, batch_size=64)
    q = model.encode(texts, **encode)
    d = model.encode(targets, **encode)
    ranks = []
    for start in range(0, len(texts), 256):
        scores = q[start : start + 256] @ d.T
        mine = scores[np.arange(len(scores)), own[start : start + 256]]
        ranks.extend((scores >= mine[:, None]).sum(axis=1).tolist())
    return ranks


def _bm25_negatives(queries, own, targets, options, model) -> list[list[int]]:
    """The ``hard_negatives`` best BM25 documents of each query other than its own (and
    other than any document with the same text), BM25 being the hybrid encoder's with the
    version itself as the context."""
    from .encoding import make_encoder

    bm25 = make_encoder("hybrid", model)
    try:
        bm25.use(bm25.derive(targets))
        found = []
        for start in range(0, len(queries), 256):
            scores = bm25.bm25(queries[start : start + 256], targets)
            for row, j in zip(scores, own[start : start + 256]):
                order = np.lexsort((np.arange(len(row)), -row))
                picks = [k for k in order if k != j and targets[k] != targets[j]]
                found.append([int(k) for k in picks[: options["hard_negatives"]]])
        return found
    finally:
        bm25.close()


# the model --------------------------------------------------------------------------------
def _load(path: Path, options: dict[str, Any]):
    from ..deps import require

    st = require("sentence_transformers", extra="embed", by="zest adapt")
    model = st.SentenceTransformer(
        str(path), device=options["device"] or None, local_files_only=True
    )
    if options["max_seq_length"]:
        model.max_seq_length = options["max_seq_length"]
    return model


def fingerprint(folder: Path) -> str:
    """sha256 over the saved weights (every ``*.safetensors``/``*.bin`` file, by path)."""
    digest = hashlib.sha256()
    files = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix in (".safetensors", ".bin")
    )
    for path in files:
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(
    base: Path,
    rows: list[dict],
    options: dict[str, Any],
    out: Path,
    progress: Callable[[int, int], None] | None = None,
) -> float:
    """Fine-tune ``base`` on ``rows`` with sentence-transformers' trainer; save to ``out``.
    Returns the mean training loss."""
    import torch
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import PrinterCallback, TrainerCallback
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    deterministic = torch.are_deterministic_algorithms_enabled()
    _seed_everything(options["seed"])
    model = _load(base, options)
    seconds = {}

    class Progress(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if progress:
                progress(state.global_step, state.max_steps)

        def on_train_begin(self, args, state, control, **kwargs):
            seconds["start"] = time.monotonic()
            if progress:
                progress(0, state.max_steps)

    args = SentenceTransformerTrainingArguments(
        output_dir=str(out / "trainer"),
        num_train_epochs=options["epochs"],
        per_device_train_batch_size=options["batch_size"],
        learning_rate=options["learning_rate"],
        warmup_steps=0.1,
        seed=options["seed"],
        data_seed=options["seed"],
        full_determinism=True,
        use_cpu=options["device"] == "cpu",
        batch_sampler="no_duplicates",  # a text twice in a batch would be its own negative
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        logging_strategy="no",
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(rows),
        loss=MultipleNegativesRankingLoss(model),
        callbacks=[Progress()],
    )
    trainer.remove_callback(PrinterCallback)
    try:
        result = trainer.train()
    finally:
        torch.use_deterministic_algorithms(deterministic)
    shutil.rmtree(out / "trainer", ignore_errors=True)
    model.save(str(out))
    return float(result.training_loss)


# the registry -----------------------------------------------------------------------------
def _lease() -> dict:
    from ..corpus.store import _process_start

    pid = os.getpid()
    return {
        "lease_pid": pid,
        "lease_host": HOST,
        "lease_start": _process_start(pid),
        "lease_heartbeat": time.time(),
    }


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
        found = store.db.execute_returning_dicts(
            "SELECT * FROM adapted_models WHERE key = ?", [key]
        )
        row = found[0] if found else None
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
            **_lease(),
        }
        if row:
            store.db["adapted_models"].update(row["id"], fields)
            model_id = row["id"]
        else:
            model_id = store.db["adapted_models"].insert(fields).last_pk
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
        with store.transaction():
            store.db["adapted_models"].update(
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
        with store.transaction():
            store.db["adapted_models"].update(
                model_id,
                {
                    "status": "failed",
                    "error": str(e) or type(e).__name__,
                    "finished": now(),
                    "lease_pid": None,
                },
            )
        raise
    return {**_row(store, model_id), "reused": False}


def models(store: Store) -> list[dict]:
    """Every registered adapted model, oldest first; a ``running`` one whose trainer is gone
    reads ``failed``."""
    rows = store.db.execute_returning_dicts("SELECT * FROM adapted_models ORDER BY id")
    for row in rows:
        if row["status"] == "running" and not Store.lease_holder(row):
            row["status"] = "failed"
            row["error"] = row["error"] or "interrupted: its trainer stopped"
    return rows


def remove(store: Store, model_id: int) -> dict:
    """Delete a model's registry row and, unless another row shares it, its folder."""
    with store.transaction():
        row = _row(store, model_id)
        if row is None:
            raise ZestError(f"no adapted model {model_id} in {store.path} (see: zest models)")
        holder = Store.lease_holder(row)
        if holder and row["lease_pid"] != os.getpid():
            raise ZestError(f"adapted model {model_id} is being trained by {holder}")
        store.db.execute("DELETE FROM adapted_models WHERE id = ?", [model_id])
        shared = (
            row["path"]
            and store.db.execute(
                "SELECT 1 FROM adapted_models WHERE path = ?", [row["path"]]
            ).fetchone()
        )
    if row["path"] and not shared:
        shutil.rmtree(row["path"], ignore_errors=True)
    return row


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
