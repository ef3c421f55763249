"""Writing a corpus version out: JSON Lines, a BEIR corpus directory, or an HF dataset.

Files are written to a temporary name beside the destination and renamed into place, so a
kill or a full disk never leaves a half-written export where a whole one is expected. The
temporary name gets the mode that ``open()`` or ``mkdir()`` would have given under the
umask before the rename (``tempfile`` makes it private, 0600 or 0700).
"""

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..deps import require
from ..errors import ZestError
from ..outputs import check_replaceable, mark, replace_folder
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


def umask_mode(base: int) -> int:
    """``base`` (0o666 for a file, 0o777 for a directory) less the process's umask: the mode
    ``open()`` or ``mkdir()`` gives a new path. The umask can only be read by setting it."""
    umask = os.umask(0)
    os.umask(umask)
    return base & ~umask


def _write_lines(rows: list[dict], dest: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        os.fchmod(fd, umask_mode(0o666))
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
    created = not dest.exists()
    dest.mkdir(exist_ok=True)
    corpus = dest / "corpus.jsonl"
    _check_file(corpus, force)
    try:
        return _write_lines(
            [{"_id": r["id"], "title": r["anchor"] or "", "text": r["text"]} for r in rows],
            corpus,
        )
    except BaseException:
        if created:  # a failed export leaves no empty directory behind; one it found stays
            with contextlib.suppress(OSError):  # not empty: another process wrote there
                dest.rmdir()
        raise


HF_KIND = "dataset export"  # the kind in the folder's marker file (zest_core/outputs.py)


def to_hf(rows: list[dict], dest: Path, force: bool = False) -> Path:
    """A Hugging Face ``datasets`` dataset on disk (``datasets.load_from_disk(dest)``)."""
    datasets = require("datasets", extra="datasets", by="--format hf")
    # only a dataset folder zest made (its marker file) is replaced, and only with --force
    dest = check_replaceable(dest, HF_KIND, force, flag="-o")
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        tmp.chmod(umask_mode(0o777))
        datasets.Dataset.from_list(rows).save_to_disk(str(tmp))
        mark(tmp, HF_KIND)
        replace_folder(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


FORMATS: dict[str, Callable[..., Path]] = {"jsonl": to_jsonl, "beir": to_beir, "hf": to_hf}


def export(store: Store, version_id: int, fmt: str, dest: Path, force: bool = False) -> Path:
    if not dest.parent.is_dir():
        raise ZestError(f"the directory of {dest} does not exist")
    return FORMATS[fmt](records(store, version_id), dest, force)
