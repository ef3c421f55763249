"""Reading exemplar documents: JSONL (BEIR corpus.jsonl too), directories and text files."""

import random
from pathlib import Path

import click

from ..errors import ZestError
from ..textfiles import read_jsonl, read_text


def read_exemplars(paths: list[str], k: int | None = None, seed: int = 0) -> list[dict]:
    """All distinct documents from ``paths``; when there are more than ``k``, ``k`` of them
    sampled with ``seed`` (kept in their original order). Each is ``{"title", "text",
    "source"}``."""
    if not paths:
        raise ZestError("no exemplars given (use --exemplars PATH)")
    if k is not None and k < 1:
        raise ZestError(f"--k must be at least 1 (got {k})")
    docs = [doc for path in paths for doc in _read_path(Path(path))]
    if not docs:
        raise ZestError(f"no exemplar documents found in {', '.join(paths)}")
    return sample(_distinct(docs), k, seed)


def _distinct(docs: list[dict]) -> list[dict]:
    """``docs`` less each whose text an earlier one has, said on stderr: a pool holding one
    document in two files would otherwise yield it twice among the ``k`` exemplars."""
    first: dict[str, dict] = {}
    for doc in docs:
        first.setdefault(doc["text"], doc)
    kept = list(first.values())  # each text at its first document's place
    dropped = len(docs) - len(kept)
    if dropped:
        click.echo(
            f"note: dropped {dropped} duplicate exemplar{'s' if dropped > 1 else ''}"
            " (the same text as an earlier one)",
            err=True,
        )
    return kept


def sample(docs: list[dict], k: int | None, seed: int) -> list[dict]:
    """``k`` of ``docs`` sampled with ``seed``, in their original order (all if fewer)."""
    if k is not None and len(docs) > k:
        keep = sorted(random.Random(seed).sample(range(len(docs)), k))
        docs = [docs[i] for i in keep]
    return docs


def _read_path(path: Path) -> list[dict]:
    if not path.exists():
        raise ZestError(f"exemplar path not found: {path}")
    if path.is_dir():
        beir = path / "corpus.jsonl"
        files = (
            [beir]
            if beir.exists()
            else sorted(p for p in path.iterdir() if p.suffix in (".jsonl", ".txt") and p.is_file())
        )
        if not files:
            raise ZestError(f"no .jsonl or .txt exemplar files in directory {path}")
        return [doc for file in files for doc in _read_file(file)]
    return _read_file(path)


def _read_file(path: Path) -> list[dict]:
    if path.suffix == ".jsonl":
        return list(_jsonl_documents(path))
    text = read_text(path).strip()
    return [{"title": None, "text": text, "source": str(path)}] if text else []


def _jsonl_documents(path: Path):
    for number, record in read_jsonl(path):
        text = record.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ZestError(f'{path}, line {number}: needs a non-empty "text" field')
        ident = record.get("_id", record.get("id"))
        yield {
            "title": (record.get("title") or "").strip() or None,
            "text": text.strip(),
            "source": f"{path}#{ident if ident is not None else number}",
        }
