"""What ``zest adapt`` trains on and how: (synthetic query, document) pairs from a version,
filtered and mined as its options say, and one sentence-transformers training run on them
(seeded, so a seed gives the same weights on a CPU)."""

import hashlib
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..corpus.store import Store


# training data ----------------------------------------------------------------------------
def _target(doc: dict) -> str:
    # the document as zest tune searches it: its anchor (a title) and text
    return f"{doc['anchor']} {doc['text']}" if doc.get("anchor") else doc["text"]


def stored_queries(store: Store, version_id: int) -> dict[int, str]:
    """Document id -> its usable synthetic query."""
    return store.stored_queries(version_id)


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
    other than any document with the same text): the default encoder's sparse side
    (``Encoder.sparse_scores``) with the version itself as the context."""
    from ..contexts.encoding import make_encoder
    from ..errors import ZestError
    from ..plugin.encoder import DEFAULT_ENCODER

    sparse = make_encoder(DEFAULT_ENCODER, model)
    try:
        if not sparse.has_sparse:
            raise ZestError(
                f"hard_negatives mines with the {DEFAULT_ENCODER} encoder's sparse side,"
                " which it does not have; use hard_negatives = 0"
            )
        sparse.use(sparse.derive(targets))
        found = []
        for start in range(0, len(queries), 256):
            scores = sparse.sparse_scores(queries[start : start + 256], targets)
            for row, j in zip(scores, own[start : start + 256]):
                order = np.lexsort((np.arange(len(row)), -row))
                picks = [k for k in order if k != j and targets[k] != targets[j]]
                found.append([int(k) for k in picks[: options["hard_negatives"]]])
        return found
    finally:
        sparse.close()


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
    # The trainer fills the saved model card's widget by sampling the dataset under a progress
    # bar of its own ("Computing widget examples") that would cut into zest's progress line;
    # a widget given beforehand is kept, so the card shows the first pair instead.
    model.model_card_data.widget = [
        {"source_sentence": rows[0]["anchor"], "sentences": [rows[0]["positive"]]}
    ]
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
