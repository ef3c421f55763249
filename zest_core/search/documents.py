"""``zest embed`` on the user's documents (a folder, or a PDF, DOCX, HTML or Markdown file),
and ``zest search`` hits that name their file and page.

The documents are read (``zest_core.documents``), each file whole or skipped, and split
into passages that fit the encoder; the passages are staged as a JSON Lines file (``id``,
``text``, ``document``, ``page``, ``position``) that ``zest embed`` then embeds as it
embeds any JSONL, with the place columns kept in the shards and the index. The staged file
is kept in the output as ``passages.jsonl``: its SHA-256 is the input's digest, so a
resume with other files or other passage settings is refused.
"""

import json
import math
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..contexts.api import AdaptedEncoder
from ..documents import DocumentReader, split_passages
from ..errors import ZestError
from ..textfiles import read_jsonl

#: Single files that are read as documents (a .txt, .jsonl or .parquet file keeps its own
#: format: a document per line, or per record); a folder always is.
DOCUMENT_SUFFIXES = (".pdf", ".docx", ".html", ".htm", ".md", ".markdown")
PASSAGES = "passages.jsonl"
#: Tokens of the passage budget for an encoder without a tokenizer zest can find (the
#: count is then 4/3 of the words).
FALLBACK_TOKENS = 256
#: What a passage's page is in the shards when it has none (all but PDFs).
NO_PAGE = 0


def is_documents(source: Path) -> bool:
    return source.is_dir() or source.suffix.lower() in DOCUMENT_SUFFIXES


@dataclass
class PassageSettings:
    """``tokens``: a passage's budget (None: the encoder's limit); ``overlap``: tokens a
    passage repeats of the one before (None: an eighth of ``tokens``)."""

    tokens: int | None = None
    overlap: int | None = None
    glob: str | None = None
    strict: bool = False


def check_queries(queries: Sequence[str]) -> None:
    """Refuse an empty query: it has no terms and no meaning, yet would still be ranked."""
    for number, query in enumerate(queries, 1):
        if not query.strip():
            raise ZestError(f"query {number} is empty: give the words to search for")


def token_budget(encoder: AdaptedEncoder, tokens: int | None) -> tuple[int, Callable[[str], int]]:
    """``(tokens per passage, count)``: the encoder's own tokenizer and limit (less its two
    special tokens) where it has one, else 4/3 tokens a word and 256."""
    plugin = encoder.encoder
    tokenizer, limit = None, None
    if hasattr(plugin, "st"):  # sentence-transformers encoders (the shipped dense ones)
        tokenizer, limit = plugin.st.tokenizer, plugin.st.max_seq_length
    elif getattr(plugin, "tokenizer", None) is not None:  # transformers encoders (cde)
        tokenizer = plugin.tokenizer
        limit = getattr(tokenizer, "model_max_length", None)
    if tokenizer is None:

        def count(text: str) -> int:
            return math.ceil(len(text.split()) * 4 / 3)

        return tokens or FALLBACK_TOKENS, count

    def count(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    default = limit - 2 if limit and limit < 1_000_000 else FALLBACK_TOKENS
    return tokens or default, count


@dataclass
class Staged:
    path: Path  # the passages, in a temporary file until ``keep``
    facts: dict  # what meta.json records under "passages"
    skipped: list[tuple[str, str]]

    kept: bool = False

    def keep(self, out: Path) -> None:
        """Move the passages into the output, as what was embedded."""
        shutil.move(str(self.path), out / PASSAGES)
        self.path, self.kept = out / PASSAGES, True

    def records(self) -> Iterator[tuple[str, str, tuple[str, int, int]]]:
        """The passages where they are now (``keep`` moves them)."""
        return passage_records(self.path)

    def discard(self) -> None:
        """Remove the temporary file, unless it was kept."""
        if not self.kept:
            self.path.unlink(missing_ok=True)


def stage_passages(
    encoder: AdaptedEncoder,
    source: Path,
    settings: PassageSettings,
    warn: Callable[[str], None] | None = None,
) -> Staged:
    """Read ``source``'s documents and write their passages to a temporary JSONL file."""
    tokens, count = token_budget(encoder, settings.tokens)
    overlap = tokens // 8 if settings.overlap is None else settings.overlap
    if tokens < 1 or not 0 <= overlap < tokens:
        raise ZestError(
            f"--passage-tokens must be at least 1 and --passage-overlap from 0 to less than"
            f" it (got {tokens} and {overlap})"
        )
    reader = DocumentReader(settings.glob, settings.strict, warn=warn)
    root = source if source.is_dir() else source.parent
    documents = 0
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", suffix=".jsonl", prefix="zest-passages-", delete=False
    ) as file:
        try:
            for document in reader.read([source]):
                documents += 1
                name = _relative(document.source, root)
                for passage in split_passages(document, tokens, overlap, count):
                    record = {
                        "id": f"{name}#{passage.position}",
                        "text": passage.text,
                        "document": document.source,
                        "page": passage.page,
                        "position": passage.position,
                    }
                    file.write(json.dumps(record, ensure_ascii=False) + "\n")
        except BaseException:
            Path(file.name).unlink(missing_ok=True)
            raise
    if reader.summary():
        reader.warn(reader.summary())
    facts = {"tokens": tokens, "overlap": overlap, "documents": documents, "glob": settings.glob}
    return Staged(Path(file.name), facts, reader.skipped)


def _relative(source: str, root: Path) -> str:
    path, hash_, record = source.partition("#")
    try:
        name = Path(path).relative_to(root).as_posix()
    except ValueError:
        name = Path(path).name
    return name + hash_ + record


def passage_records(path: Path) -> Iterator[tuple[str, str, tuple[str, int, int]]]:
    """``(id, text, (document, page, position))`` of each staged passage."""
    for _, record in read_jsonl(path):
        place = (record["document"], record["page"] or NO_PAGE, record["position"])
        yield record["id"], record["text"], place


# the index ---------------------------------------------------------------------------------
PLACES = "places.npz"  # in an index of passages: each row's file, page and position


def write_places(shards: list[Path], folder: Path) -> None:
    """``folder/places.npz``: the file, page and position of each passage of ``shards``
    (``zest index``), when they hold passages."""
    import pyarrow.parquet as pq

    columns = ("document", "page", "position")
    if "document" not in pq.read_schema(shards[0]).names:
        return
    tables = [pq.read_table(path, columns=list(columns)) for path in shards]
    documents, pages, positions = (
        [v for t in tables for v in t.column(c).to_pylist()] for c in columns
    )
    np.savez(
        folder / PLACES,
        documents=np.asarray(documents, dtype=str),
        pages=np.asarray(pages, dtype=np.int32),
        positions=np.asarray(positions, dtype=np.int32),
    )


def read_places(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as arrays:
        return {name: arrays[name] for name in arrays.files}


# search ------------------------------------------------------------------------------------
def located_hits(index: Any, ranked: Sequence[tuple[np.ndarray, np.ndarray]]) -> list[list[dict]]:
    """Each query's hits as ``{"id", "score"}`` and, for an index of passages, ``file``,
    ``page`` (None but in PDFs) and ``passage`` (its position in the document)."""
    places = index._load(PLACES, read_places) if (index.path / PLACES).is_file() else None
    results = []
    for rows, scores in ranked:
        hits = []
        for row, score in zip(rows, scores):
            hit = {"id": str(index.ids[row]), "score": float(score)}
            if places is not None:
                page = int(places["pages"][row])
                hit.update(
                    file=str(places["documents"][row]),
                    page=page if page != NO_PAGE else None,
                    passage=int(places["positions"][row]),
                )
            hits.append(hit)
        results.append(hits)
    return results


def group_by_document(hits: list[dict], top_k: int) -> list[dict]:
    """The best ``top_k`` documents of a query's passage hits, each scored by its best
    passage: ``{"file", "score", "hits"}`` (its passages among the hits, best first)."""
    groups: dict[str, dict] = {}
    for hit in hits:  # best first, so a document's first hit is its best
        key = hit.get("file", hit["id"])
        group = groups.setdefault(key, {"file": key, "score": hit["score"], "hits": []})
        group["hits"].append(hit)
    return list(groups.values())[:top_k]


def search_passages(
    index: Any,
    encoder: AdaptedEncoder,
    queries: Sequence[str],
    top_k: int = 10,
    candidates: int = 100,
    group_by: str | None = None,
) -> list[list[dict]]:
    """``SearchIndex.search`` with each hit's file, page and passage (``located_hits``);
    with ``group_by="document"`` the best ``top_k`` documents (``group_by_document``), from
    the best ``10 * top_k`` passages."""
    if group_by not in (None, "passage", "document"):
        raise ZestError(f"--group-by must be passage or document, not {group_by!r}")
    check_queries(queries)
    index.check(encoder)
    wanted = top_k * 10 if group_by == "document" else top_k
    embedded = encoder.encode_queries(queries)
    weight = encoder.encoder.options.get("weight") if index.bm25 is not None else None
    ranked = index.rank(embedded.dense, embedded.sparse, wanted, max(candidates, wanted), weight)
    hits = located_hits(index, ranked)
    return [group_by_document(h, top_k) for h in hits] if group_by == "document" else hits
