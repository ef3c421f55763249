"""Reading exemplar documents: JSONL (BEIR corpus.jsonl too), directories and text files."""

from pathlib import Path

import click

from ..errors import ZestError
from ..textfiles import read_jsonl, read_text


def read_exemplars(paths: list[str]) -> list[dict]:
    """All distinct documents from ``paths``, in order, each ``{"title", "text", "source"}``
    (``k`` of them are chosen by ``zest_core.corpus.selection.choose``)."""
    if not paths:
        raise ZestError("no exemplars given (use --exemplars PATH)")
    docs = [doc for path in paths for doc in _read_path(Path(path))]
    if not docs:
        raise ZestError(f"no exemplar documents found in {', '.join(paths)}")
    return _distinct(docs)


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
