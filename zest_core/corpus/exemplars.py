"""Reading exemplar documents: any file or folder ``zest_core.documents`` reads (JSONL,
BEIR corpus.jsonl, text, Markdown, HTML, PDF, DOCX), and telling the user which exemplars
the prompts cut."""

from pathlib import Path

import click

from ..documents import DocumentReader
from ..errors import ZestError
from ..text import first_words, title


def read_exemplars(paths: list[str], glob: str | None = None, strict: bool = False) -> list[dict]:
    """All distinct documents from ``paths``, in order, each ``{"title", "text", "source"}``
    (``k`` of them are chosen by ``zest_core.corpus.selection.choose``). A file in a
    folder that cannot be read is skipped with a warning (``strict``: an error)."""
    if not paths:
        raise ZestError("no exemplars given (use --exemplars PATH)")
    for path in paths:
        if not Path(path).exists():
            raise ZestError(f"exemplar path not found: {path}")
    reader = DocumentReader(glob, strict)
    docs = [doc.as_exemplar() for doc in reader.read(paths)]
    if reader.summary():
        reader.warn(reader.summary())
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


def note_cut(exemplars: list[dict], words: int) -> None:
    """Say on stderr, in one line, which exemplars the prompts show only the first ``words``
    words of (the templates' largest ``exemplar_words``): a long document is cut, never
    silently."""
    cut = [
        str(e.get("source") or title(e))
        for e in exemplars
        if len(first_words(e["text"], words + 1).split()) > words
    ]
    if cut:
        click.echo(
            f"note: {len(cut)} of {len(exemplars)} exemplars were longer than {words} words;"
            f" the prompts showed the first {words} of each (the template's exemplar_words):"
            f" {', '.join(cut)}",
            err=True,
        )
