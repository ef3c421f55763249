"""Reading the documents people keep (.txt, .md, .html, .pdf, .docx, and .jsonl / .parquet
records) from files and folders, each file read whole or not at all.

Only regular files are opened (a FIFO would block, ``/dev/zero`` never ends), and none past
the size limit (``ZEST_MAX_FILE_MB``, default 100): the check is on the file's size before
it is opened and on what is read, never more than the limit plus one byte. A file you name
that cannot be read is one ``Error:``; a file found in a folder you name is skipped with one
warning line that says why (``strict`` makes it the ``Error:``), and ``summary`` counts them.
PDF, DOCX and HTML need the ``documents`` extra (pypdf, python-docx, trafilatura; the
comparison with markitdown is in docs/your-documents.md).
"""

import io
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import click

from ..deps import require
from ..errors import ZestError
from ..textfiles import read_jsonl

#: What ``read_documents`` reads, by suffix (lower-cased).
TEXT = (".txt", ".md", ".markdown")
FORMATS = (*TEXT, ".html", ".htm", ".pdf", ".docx", ".jsonl", ".parquet")
MAX_FILE_MB = 100  # default of ZEST_MAX_FILE_MB
BEIR_CORPUS = "corpus.jsonl"
#: trafilatura's Markdown escapes, undone (not ``\\#``: a line it starts is no heading)
MARKDOWN_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()+\-.!<>|~])")


class BadFile(ZestError):
    """One file that cannot be read; its message names the file and why."""


@dataclass
class Document:
    """One document: its ``text`` (a PDF's pages joined by blank lines), where it came from
    (``source``: the file, ``file#id`` for a JSONL or Parquet record), an optional
    ``title``, and a PDF's ``pages`` (their texts, page 1 first)."""

    text: str
    source: str
    title: str | None = None
    id: str | None = None
    pages: list[str] | None = None

    def as_exemplar(self) -> dict:
        return {"title": self.title, "text": self.text, "source": self.source}


def max_file_bytes() -> int:
    """The size limit in bytes, from ``ZEST_MAX_FILE_MB`` (default 100)."""
    value = os.environ.get("ZEST_MAX_FILE_MB", str(MAX_FILE_MB))
    try:
        mb = float(value)
    except ValueError:
        mb = -1.0
    if not mb > 0:
        raise ZestError(f"ZEST_MAX_FILE_MB must be a positive number of megabytes, not {value!r}")
    return int(mb * 1_000_000)


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.4g} MB"


def check_regular(path: Path, limit: int) -> None:
    """Refuse what is not a regular file, and a file over ``limit`` bytes, before opening."""
    mode = path.stat()
    if not stat.S_ISREG(mode.st_mode):
        raise BadFile(f"{path}: not a regular file (a FIFO, device or socket is never read)")
    if mode.st_size > limit:
        raise BadFile(
            f"{path}: {_mb(mode.st_size)}, over the {_mb(limit)} limit (set ZEST_MAX_FILE_MB)"
        )


def read_bounded(path: Path, limit: int) -> bytes:
    """The file's bytes, refused past ``limit`` (checked before and while reading)."""
    check_regular(path, limit)
    with path.open("rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:  # it grew after the check
        raise BadFile(f"{path}: over the {_mb(limit)} limit (set ZEST_MAX_FILE_MB)")
    if not data.strip():
        raise BadFile(f"{path}: empty")
    return data


def record_title(record: dict, where: str) -> str | None:
    """A JSONL or Parquet record's ``title``: a string or absent, else one error."""
    title = record.get("title")
    if title is not None and not isinstance(title, str):
        raise BadFile(f'{where}: "title" must be a string, not {type(title).__name__}')
    return (title or "").strip() or None


class DocumentReader:
    """Reads paths (files and folders) into ``Document``s; see the module docstring.

    ``glob``: which files of a folder are read (``files``). ``warn``: where warnings go
    (default stderr). ``skipped``: ``(file, why)`` of each file skipped so far."""

    def __init__(
        self,
        glob: str | None = None,
        strict: bool = False,
        max_bytes: int | None = None,
        warn: Callable[[str], None] | None = None,
    ):
        self.glob, self.strict = glob, strict
        self.max_bytes = max_file_bytes() if max_bytes is None else max_bytes
        self.warn = warn or (lambda line: click.echo(line, err=True))
        self.skipped: list[tuple[str, str]] = []

    def read(self, paths: Iterable[str | Path]) -> Iterator[Document]:
        """Every document of ``paths`` in order; each file's documents all at once, after
        the whole file was read."""
        for given in paths:
            path = Path(given)
            if not path.exists():
                raise ZestError(f"{path} not found")
            if path.is_dir():
                for file in self.files(path):
                    yield from self._member(file)
            else:
                yield from self.read_file(path, named=True)

    def files(self, folder: Path) -> list[Path]:
        """The files of ``folder`` that are read: those ``glob`` matches, sorted, hidden ones
        (``.git``, ``.DS_Store``) left out. Without ``glob``: a BEIR folder's corpus.jsonl; a
        folder of records (.jsonl files at its top) its .jsonl and .txt files, as zest read
        exemplar folders before it read documents; any other folder every file, recursively."""
        glob = self.glob
        if glob is None:
            if (folder / BEIR_CORPUS).is_file():
                return [folder / BEIR_CORPUS]
            top = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
            if any(p.suffix.lower() == ".jsonl" for p in top):
                return [p for p in top if p.suffix.lower() in (".jsonl", ".txt")]
            glob = "**/*"
        return sorted(
            p
            for p in folder.glob(glob)
            if not p.is_dir()
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        )

    def _member(self, file: Path) -> list[Document]:
        try:
            return self.read_file(file)
        except BadFile as e:
            if self.strict:
                raise ZestError(f"{e} (--strict stops at the first file it cannot read)") from None
            why = str(e).removeprefix(f"{file}: ")
            self.skipped.append((str(file), why))
            self.warn(f"warning: skipped {e}")
            return []

    def summary(self) -> str | None:
        """One line counting the skipped files, or None when none was."""
        n = len(self.skipped)
        return (
            f"skipped {n} file{'s' if n > 1 else ''} that could not be read (named above)"
            if n
            else None
        )

    def read_file(self, path: Path, named: bool = False) -> list[Document]:
        """All documents of one file (a JSONL or Parquet file holds several), or BadFile.
        A file of another type is text when ``named`` (given by name), else refused."""
        check_regular(path, self.max_bytes)
        suffix = path.suffix.lower()
        if suffix not in FORMATS and not named:
            raise BadFile(
                f"{path}: unknown type {suffix or '(no suffix)'!r}"
                f" (zest reads {', '.join(FORMATS)})"
            )
        if suffix == ".jsonl":
            return list(_jsonl_documents(path))
        if suffix == ".parquet":
            return list(_parquet_documents(path))
        data = read_bounded(path, self.max_bytes)
        if suffix == ".pdf":
            return [self._pdf(path, data)]
        if suffix == ".docx":
            return [_docx(path, data)]
        if suffix in (".html", ".htm"):
            return [_html(path, data)]
        return [Document(_utf8(path, data).strip(), str(path))]

    def _pdf(self, path: Path, data: bytes) -> Document:
        """Each page's text (pypdf); a PDF without any text is refused as scanned, one with
        some text-less pages is read with a note naming them."""
        pages, title = _pdf_pages(path, data)
        blank = [n for n, text in enumerate(pages, 1) if not text.strip()]
        if len(blank) == len(pages):
            raise BadFile(
                f"{path}: no text on any of its {len(pages)} pages (a scanned or image-only"
                " PDF: run OCR on it first)"
            )
        if blank:
            self.warn(
                f"note: {path}: page{'s' if len(blank) > 1 else ''}"
                f" {', '.join(map(str, blank))} of {len(pages)} ha{'ve' if len(blank) > 1 else 's'}"
                " no text (scanned?); the other pages are read"
            )
        text = "\n\n".join(p.strip() for p in pages if p.strip())
        return Document(text, str(path), title, pages=pages)


def read_documents(
    paths: Iterable[str | Path],
    glob: str | None = None,
    strict: bool = False,
    max_bytes: int | None = None,
) -> list[Document]:
    """All documents of ``paths`` (files and folders), skipping unreadable files found in
    folders with a warning (``strict``: an error); see ``DocumentReader``."""
    reader = DocumentReader(glob, strict, max_bytes)
    documents = list(reader.read(paths))
    if reader.summary():
        reader.warn(reader.summary())
    return documents


# formats ---------------------------------------------------------------------------------
def _utf8(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadFile(
            f"{path}: not valid UTF-8 text (byte {e.start}: {e.object[e.start : e.start + 1]!r})"
        ) from None


def _record_document(record: dict, path: Path, where: str, fallback: int) -> Document:
    text = record.get("text")
    if not isinstance(text, str) or not text.strip():
        raise BadFile(f'{where}: needs a non-empty "text" field')
    title = record_title(record, where)
    ident = record.get("_id", record.get("id"))
    ident = str(fallback) if ident is None else str(ident)
    return Document(text.strip(), f"{path}#{ident}", title, id=ident)


def _jsonl_documents(path: Path) -> Iterator[Document]:
    try:
        for number, record in read_jsonl(path):
            yield _record_document(record, path, f"{path}, line {number}", number)
    except BadFile:
        raise
    except ZestError as e:  # not UTF-8, not JSON, not an object
        raise BadFile(str(e)) from None


def _parquet_documents(path: Path) -> Iterator[Document]:
    pq = require("pyarrow.parquet", extra="search", by="reading .parquet files")
    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow.ArrowInvalid and friends
        raise BadFile(f"{path}: not a readable Parquet file ({e})") from None
    for row, record in enumerate(table.to_pylist(), 1):
        yield _record_document(record, path, f"{path}, row {row}", row)


def _pdf_pages(path: Path, data: bytes) -> tuple[list[str], str | None]:
    pypdf = require("pypdf", extra="documents", by="reading .pdf files")
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise BadFile(f"{path}: encrypted (it needs a password: save a copy without one)")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata or {}).get("/Title")
    except BadFile:
        raise
    except Exception as e:  # pypdf's PdfReadError, and what a damaged stream raises
        raise BadFile(f"{path}: not a readable PDF ({type(e).__name__}: {e})") from None
    if not pages:
        raise BadFile(f"{path}: a PDF without pages")
    return pages, (str(title).strip() or None) if title else None


def _docx(path: Path, data: bytes) -> Document:
    """Paragraphs and tables in document order; headings as Markdown ``#`` lines, so that
    passages split on them; a table as one block, a row a line, cells joined by `` | ``."""
    docx = require("docx", extra="documents", by="reading .docx files")
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        blocks = []
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                rows = [" | ".join(_distinct_cells(row.cells)) for row in item.rows]
                blocks.append("\n".join(r for r in rows if r.strip(" |")))
                continue
            text = item.text.strip()
            style = item.style.name if item.style is not None else ""
            level = _heading_level(style)
            blocks.append(f"{'#' * level} {text}" if level and text else text)
        title = document.core_properties.title
    except Exception as e:  # a damaged zip or XML
        raise BadFile(f"{path}: not a readable DOCX ({type(e).__name__}: {e})") from None
    text = "\n\n".join(b for b in blocks if b.strip())
    if not text:
        raise BadFile(f"{path}: no text")
    return Document(text, str(path), title.strip() or None if title else None)


def _distinct_cells(cells) -> list[str]:
    """Cell texts of a row, a merged cell (python-docx repeats it) once."""
    seen, texts = set(), []
    for cell in cells:
        if id(cell._tc) not in seen:
            seen.add(id(cell._tc))
            texts.append(cell.text.strip())
    return texts


def _heading_level(style: str) -> int:
    if style == "Title":
        return 1
    name, _, level = style.partition(" ")
    return int(level) if name == "Heading" and level.isdigit() else 0


def _html(path: Path, data: bytes) -> Document:
    """The page's main text as Markdown (trafilatura: boilerplate such as navigation left
    out, tables kept; its escapes such as ``\\<`` undone: the text is read, not rendered),
    and its title."""
    trafilatura = require("trafilatura", extra="documents", by="reading .html files")
    try:
        text = trafilatura.extract(
            data, output_format="markdown", include_tables=True, include_comments=False
        )
        metadata = trafilatura.extract_metadata(data)
    except Exception as e:
        raise BadFile(f"{path}: not readable HTML ({type(e).__name__}: {e})") from None
    if not text or not text.strip():
        raise BadFile(f"{path}: no text found in the HTML")
    title = metadata.title if metadata is not None else None
    return Document(MARKDOWN_ESCAPE.sub(r"\1", text).strip(), str(path), title or None)


__all__ = [
    "FORMATS",
    "BadFile",
    "Document",
    "DocumentReader",
    "max_file_bytes",
    "read_bounded",
    "read_documents",
    "record_title",
]
