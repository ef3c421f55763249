"""Folders that zest writes whole and replaces whole: a search index (``zest index --out``)
and a Hugging Face dataset export (``zest corpora export --format hf``).

Replacing such a folder means deleting what was there, so zest deletes only a folder it made
itself for the same purpose, recognised by the marker file it writes into every one
(``.zest-made``, a small JSON object naming the kind), and only when asked with ``--force``.
Anything else at the path (a folder of the user's files, the input itself, ``.``, ``..``,
a device such as ``/dev/full``) is refused with one line before any work, and nothing is
created beside it. An empty folder holds nothing to lose and is used as it is.
"""

import json
import os
import shutil
from pathlib import Path

from .errors import ZestError

MARKER = ".zest-made"


def mark(folder: Path, kind: str) -> None:
    """Write the marker that lets a later ``--force`` replace ``folder`` (a ``kind``)."""
    (Path(folder) / MARKER).write_text(json.dumps({"made_by": "zest", "kind": kind}) + "\n")


def made_as(folder: Path) -> str | None:
    """The kind that zest recorded making ``folder`` as, or None (no marker, or not ours)."""
    try:
        found = json.loads((Path(folder) / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if isinstance(found, dict) and found.get("made_by") == "zest":
        kind = found.get("kind")
        return kind if isinstance(kind, str) else None
    return None


def check_replaceable(
    target: Path, kind: str, force: bool, *, flag: str = "--out", inputs: tuple = ()
) -> Path:
    """``target`` resolved, once it is safe to write a ``kind`` folder there: absent (in an
    existing directory), an empty folder, or a ``kind`` folder zest made and ``force`` is
    given. ``inputs``: paths that the work reads, which the target must neither be nor hold."""
    target = Path(target)
    resolved = target.resolve()
    if resolved == resolved.parent:
        raise ZestError(f"{flag} {target} is the filesystem root; choose a new folder")
    for path in inputs:
        source = Path(path).resolve()
        if source == resolved or resolved in source.parents:
            raise ZestError(
                f"{flag} {target} holds the input {path}; choose a new folder for the {kind}"
            )
    if resolved == Path.cwd().resolve() or resolved in Path.cwd().resolve().parents:
        raise ZestError(
            f"{flag} {target} is the current directory or above it; choose a new folder"
        )
    if not target.exists() and not target.is_symlink():
        if not resolved.parent.is_dir():
            raise ZestError(f"the directory of {flag} {target} does not exist")
        return resolved
    if target.is_symlink() or not target.is_dir():
        raise ZestError(f"{flag} {target} exists and is not a folder; choose a new folder")
    if not any(os.scandir(target)):
        return resolved
    made = made_as(target)
    if made != kind:
        what = f"a zest {made}, not {_a(kind)}" if made else f"not {_a(kind)} that zest made"
        raise ZestError(
            f"{flag} {target} already exists and is {what}; zest replaces only its own"
            f" {kind} folders (with --force): choose a new folder"
        )
    if not force:
        raise ZestError(f"{flag} {target} holds {_a(kind)} already; add --force to replace it")
    return resolved


def _a(kind: str) -> str:
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def replace_folder(made: Path, target: Path) -> None:
    """Put the whole folder ``made`` at ``target``, moving away and then deleting what
    ``check_replaceable`` allowed to be there, so ``target`` is never half written."""
    old = None
    if target.is_dir() and any(os.scandir(target)):
        old = target.with_name(f".{target.name}.{os.getpid()}.old")
        os.replace(target, old)
    os.replace(made, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
