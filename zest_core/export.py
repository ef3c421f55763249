"""Writing a corpus version out: JSON Lines, a BEIR corpus directory, or an HF dataset."""

import json
from pathlib import Path
from typing import Callable

from .deps import require
from .store import Store


def records(store: Store, version_id: int) -> list[dict]:
    return [{"id": f"v{version_id}-{doc['ordinal']}", "version": version_id,
             "ordinal": doc["ordinal"], "anchor": doc["anchor"], "text": doc["text"],
             "content_hash": doc["content_hash"], "token_count": doc["token_count"]}
            for doc in store.documents(version_id)]


def to_jsonl(rows: list[dict], dest: Path) -> Path:
    with dest.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return dest


def to_beir(rows: list[dict], dest: Path) -> Path:
    """``dest/corpus.jsonl`` with ``_id``, ``title`` (the anchor) and ``text``."""
    dest.mkdir(parents=True, exist_ok=True)
    return to_jsonl([{"_id": r["id"], "title": r["anchor"] or "", "text": r["text"]}
                     for r in rows], dest / "corpus.jsonl")


def to_hf(rows: list[dict], dest: Path) -> Path:
    """A Hugging Face ``datasets`` dataset on disk (``datasets.load_from_disk(dest)``)."""
    datasets = require("datasets", extra="datasets", by="--format hf")
    datasets.Dataset.from_list(rows).save_to_disk(str(dest))
    return dest


FORMATS: dict[str, Callable[[list[dict], Path], Path]] = {
    "jsonl": to_jsonl, "beir": to_beir, "hf": to_hf}


def export(store: Store, version_id: int, fmt: str, dest: Path) -> Path:
    return FORMATS[fmt](records(store, version_id), dest)
