"""Writing a corpus version out: JSON Lines, a BEIR corpus directory, or an HF dataset.

Files are written to a temporary name beside the destination and renamed into place, so a
kill or a full disk never leaves a half-written export where a whole one is expected.
"""

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..deps import require
from ..errors import ZestError
from .store import Store


def records(store: Store, version_id: int) -> list[dict]:
    return [
        {
            "id": f"v{version_id}-{doc['ordinal']}",
            "version": version_id,
            "ordinal": doc["ordinal"],
            "anchor": doc["anchor"],
            "text": doc["text"],
            "content_hash": doc["content_hash"],
            "token_count": doc["token_count"],
        }
        for doc in store.documents(version_id)
    ]


def _write_lines(rows: list[dict], dest: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


def _check_file(dest: Path, force: bool) -> None:
    if dest.exists() or dest.is_symlink():
        if not dest.is_file():
            raise ZestError(f"{dest} exists and is not a regular file; choose another path")
        if not force:
            raise ZestError(f"{dest} exists; add --force to replace it")


def to_jsonl(rows: list[dict], dest: Path, force: bool = False) -> Path:
    _check_file(dest, force)
    return _write_lines(rows, dest)


def to_beir(rows: list[dict], dest: Path, force: bool = False) -> Path:
    """``dest/corpus.jsonl`` with ``_id``, ``title`` (the anchor) and ``text``."""
    if (dest / "queries.jsonl").exists() or (dest / "qrels").exists():
        raise ZestError(
            f"{dest} is a BEIR dataset with queries or qrels; exporting into it"
            " would pair them with another corpus. Choose a new directory"
        )
    if dest.exists() and not dest.is_dir():
        raise ZestError(f"{dest} exists and is not a directory")
    dest.mkdir(exist_ok=True)
    corpus = dest / "corpus.jsonl"
    _check_file(corpus, force)
    return _write_lines(
        [{"_id": r["id"], "title": r["anchor"] or "", "text": r["text"]} for r in rows], corpus
    )


def to_hf(rows: list[dict], dest: Path, force: bool = False) -> Path:
    """A Hugging Face ``datasets`` dataset on disk (``datasets.load_from_disk(dest)``)."""
    datasets = require("datasets", extra="datasets", by="--format hf")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())) and not force:
        raise ZestError(f"{dest} exists; add --force to replace it")
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        datasets.Dataset.from_list(rows).save_to_disk(str(tmp))
        if dest.is_dir():
            shutil.rmtree(dest)
        elif dest.exists():
            dest.unlink()
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


FORMATS: dict[str, Callable[..., Path]] = {"jsonl": to_jsonl, "beir": to_beir, "hf": to_hf}


def export(store: Store, version_id: int, fmt: str, dest: Path, force: bool = False) -> Path:
    if not dest.parent.is_dir():
        raise ZestError(f"the directory of {dest} does not exist")
    return FORMATS[fmt](records(store, version_id), dest, force)
