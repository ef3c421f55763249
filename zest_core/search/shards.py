"""``zest embed``: a corpus streamed through an adapted encoder into Parquet shards.

An output directory holds ``meta.json`` (what the vectors depend on: encoder, settings,
model, context; the input's digest; the shards once all exist), ``context.npz`` (the
context's derived state, e.g. a sparse side's vocabulary and statistics) and
``shard-NNNNN.parquet`` files of ``shard_size`` documents each with the columns ``id``,
``dense`` (fixed-size list of float32), and for encoders with a sparse side
``sparse_indices`` (uint32 term ids) and ``sparse_weights`` (float32 BM25 weights).

Shard ``i`` always holds input records ``i * shard_size`` onwards, so a killed run restarts
at the first missing shard; a shard is written under a temporary name and renamed when
whole, and ``meta.json`` says ``complete`` only after the last one. ``meta.json``'s
``written`` records each shard's rows and SHA-256 before its rename: resume keeps only a
shard that still matches its record and writes any other again, and ``zest index`` refuses
one that does not match.
"""

import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from itertools import islice
from pathlib import Path

import numpy as np

from ..contexts.api import AdaptedEncoder
from ..documents.readers import record_title
from ..errors import ZestError
from ..textfiles import read_jsonl, read_lines
from .documents import PassageSettings, is_documents, stage_passages

META = "meta.json"
STATE = "context.npz"
FORMAT = 1


# reading the input -----------------------------------------------------------------------
def read_records(path: Path) -> Iterator[tuple[str, str]]:
    """``(id, text)`` per document of a JSONL file (``text``, optional ``_id``/``id`` and
    ``title``), a Parquet file (the same columns) or a text file (a document per line, its
    line number as id), streamed; a malformed line stops with its number."""
    if not path.is_file():
        raise ZestError(f"input {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _parquet_records(path)
    elif suffix in (".jsonl", ".json", ".ndjson"):
        yield from _jsonl_records(path)
    else:
        for number, line in read_lines(path):
            if line.strip():
                yield str(number), line.strip()


def _jsonl_records(path: Path) -> Iterator[tuple[str, str]]:
    for number, record in read_jsonl(path):
        if not isinstance(record.get("text"), str):
            raise ZestError(f"{path}, line {number}: expected an object with a 'text' string")
        yield _record(record, str(number), f"{path}, line {number}")


def _record(record: dict, fallback_id: str, where: str) -> tuple[str, str]:
    doc_id = record.get("_id", record.get("id"))
    record_title(record, where)  # a title that is not a string is refused
    title = record.get("title") or ""  # as given: BEIR and mteb join it unstripped
    text = record["text"]
    # title and text joined as BEIR / mteb join them, so results match zest eval
    return (fallback_id if doc_id is None else str(doc_id)), (
        f"{title} {text}".strip() if title else text
    )


def _parquet_records(path: Path) -> Iterator[tuple[str, str]]:
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
    except Exception as e:  # pyarrow.ArrowInvalid and friends
        raise ZestError(f"{path} is not a readable Parquet file ({e})") from None
    names = set(file.schema_arrow.names)
    if "text" not in names:
        raise ZestError(f"{path} has no 'text' column (columns: {', '.join(sorted(names))})")
    columns = [c for c in ("_id", "id", "title", "text") if c in names]
    row = 0
    for batch in file.iter_batches(columns=columns, batch_size=4096):
        for record in batch.to_pylist():
            row += 1
            if not isinstance(record["text"], str):
                raise ZestError(f"{path}, row {row}: 'text' is not a string")
            yield _record(record, str(row), f"{path}, row {row}")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# writing shards --------------------------------------------------------------------------
def encode_table(encoder: AdaptedEncoder, ids: list[str], texts: list[str], places=None):
    """One shard's rows: what ``zest embed`` and the Ray path both write (``places``: each
    passage's ``(document, page, position)``, three more columns: search/documents.py)."""
    import pyarrow as pa

    embedded = encoder.encode_documents(texts)
    dim = embedded.dense.shape[1]
    columns = {
        "id": pa.array(ids, pa.string()),
        "dense": pa.FixedSizeListArray.from_arrays(
            pa.array(embedded.dense.reshape(-1), pa.float32()), dim
        ),
    }
    if embedded.sparse is not None:
        offsets = pa.array(embedded.sparse.indptr.astype(np.int32))
        columns["sparse_indices"] = pa.ListArray.from_arrays(
            offsets, pa.array(embedded.sparse.indices.astype(np.uint32))
        )
        columns["sparse_weights"] = pa.ListArray.from_arrays(
            offsets, pa.array(embedded.sparse.data.astype(np.float32))
        )
    kinds = {"document": pa.string(), "page": pa.int32(), "position": pa.int32()}
    for (name, kind), values in zip(kinds.items(), zip(*places) if places else ()):
        columns[name] = pa.array(values, kind)
    return pa.table(columns)


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """``write`` to a temporary name beside ``path``, then rename: whole or absent."""
    temporary = path.with_name(f".{path.name}.tmp")
    write(temporary)
    os.replace(temporary, path)


def write_json(path: Path, value: dict) -> None:
    write_atomic(path, lambda p: p.write_text(json.dumps(value, indent=2, sort_keys=True)))


def write_state(path: Path, encoder: AdaptedEncoder) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **(encoder.state or {}))
    write_atomic(path, lambda p: p.write_bytes(buffer.getvalue()))


def read_state(directory: Path):
    path = directory / STATE
    if not path.is_file():
        raise ZestError(f"{directory} lacks {STATE} (the context's vocabulary and statistics)")
    with np.load(path, allow_pickle=False) as arrays:
        state = {name: arrays[name] for name in arrays.files}
    return state or None


def shard_name(number: int) -> str:
    return f"shard-{number:05d}.parquet"


def shard_damage(path: Path, record: dict | None) -> str | None:
    """Why the shard at ``path`` is not the one that was written, or None when it is: its
    SHA-256 must be the one recorded in meta.json when it was written (a checksum, not a
    read: a file cut short or copied over can still be valid Parquet, of other rows)."""
    if record is None:
        return "has no checksum recorded in meta.json"
    if sha256_file(path) != record["sha256"]:
        return "is damaged (its SHA-256 differs from the one recorded when it was written)"
    return None


def check_shards(directory: Path, meta: dict) -> None:
    """Refuse complete output whose shards are not the ones written (``zest index``)."""
    written = meta.get("written")
    if written is None:  # written by a zest that kept no checksums: read as it is
        return
    for name in meta["shards"]:
        damage = shard_damage(directory / name, written.get(name))
        if damage:
            raise ZestError(
                f"{directory / name} {damage}: run the same zest embed again to write it again"
            )


def read_meta(directory: Path) -> dict:
    path = Path(directory) / META
    if not path.is_file():
        raise ZestError(f"{directory} is not zest embed output (no {META})")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ZestError(f"{path} is damaged (not JSON)") from None
    if not isinstance(meta, dict):
        raise ZestError(f"{path} is damaged (a JSON {type(meta).__name__}, not an object)")
    return meta


def require_keys(directory: Path, meta: dict, keys) -> None:
    """Refuse a ``meta.json`` that lacks any of ``keys`` (damaged or hand-edited), by name."""
    if missing := [key for key in keys if key not in meta]:
        raise ZestError(f"{Path(directory) / META} is damaged (no {', '.join(missing)})")


def _batches(records: Iterable, size: int) -> Iterator[list]:
    records = iter(records)
    while batch := list(islice(records, size)):
        yield batch


def embed(
    encoder: AdaptedEncoder,
    source: Path,
    out: Path,
    shard_size: int = 4096,
    on_start: Callable[[int, int], None] | None = None,
    on_shard: Callable[[int], None] | None = None,
    on_rewrite: Callable[[str], None] | None = None,
    passages: PassageSettings | None = None,
) -> dict:
    """Encode ``source`` into shards under ``out``; resumes an earlier run of the same
    command (same input, encoder and context), refuses a directory holding another.

    A folder, PDF, DOCX, HTML or Markdown file becomes ``passages`` (search/documents.py).
    ``on_start(total documents, already done)`` and ``on_shard(documents)`` report progress;
    ``on_rewrite(why)`` is told of each damaged shard that resume writes again.
    Memory holds one shard. Returns the final metadata.
    """
    if shard_size < 1:
        raise ZestError("--shard-size must be at least 1")
    if not source.exists():
        raise ZestError(f"input {source} does not exist")
    if not is_documents(source):
        return _embed(encoder, source, out, shard_size, on_start, on_shard, on_rewrite, None)
    staged = stage_passages(encoder, source, passages or PassageSettings())
    try:
        return _embed(encoder, source, out, shard_size, on_start, on_shard, on_rewrite, staged)
    finally:
        staged.discard()  # unless it was kept in the output


def _plain_records(source: Path) -> Iterator[tuple[str, str, None]]:
    return ((doc_id, text, None) for doc_id, text in read_records(source))


def _embed(encoder, source, out, shard_size, on_start, on_shard, on_rewrite, staged) -> dict:
    plain = staged is None
    records = partial(_plain_records, source) if plain else staged.records
    count = sum(1 for _ in records())  # checks every line before writing anything
    if count == 0:
        raise ZestError(f"{source} has no {'documents' if plain else 'passages'}")
    digest = sha256_file(source if plain else staged.path)
    meta = {
        "format": FORMAT,
        "input": str(source.resolve()),
        "input_sha256": digest,
        "count": count,
        "shard_size": shard_size,
        **encoder.metadata(),
        **({"passages": staged.facts} if staged else {}),
        "complete": False,
    }
    out.mkdir(parents=True, exist_ok=True)
    if (out / META).exists():
        found = read_meta(out)
        _check_same_run(out, found, meta)
        meta["written"] = found.get("written", {})
    else:
        write_state(out / STATE, encoder)
        meta["written"] = {}
        write_json(out / META, meta)
    if staged is not None:
        staged.keep(out)
    shards = [shard_name(i) for i in range(-(-count // shard_size))]
    rows = [_shard_rows(i, shard_size, count) for i in range(len(shards))]
    kept = _intact_shards(out, shards, rows, meta["written"], on_rewrite)
    if on_start:
        on_start(count, sum(n for name, n in zip(shards, rows) if name in kept))
    for number, batch in enumerate(_batches(records(), shard_size)):
        if shards[number] in kept:
            continue
        ids, texts, places = ([r[i] for r in batch] for i in range(3))
        table = encode_table(encoder, ids, texts, places if staged else None)
        _write_shard(out / shards[number], table, meta)
        if on_shard:
            on_shard(len(batch))
    meta.update(complete=True, shards=shards)
    write_json(out / META, meta)
    return meta


def _shard_rows(number: int, size: int, count: int) -> int:
    return min(size, count - number * size)


def _intact_shards(
    out: Path,
    shards: list[str],
    rows: list[int],
    written: dict,
    on_rewrite: Callable[[str], None] | None,
) -> set[str]:
    """The shards under ``out`` that resume keeps: present, with the rows and SHA-256
    recorded when they were written. Each other present shard is reported to
    ``on_rewrite``: a truncated shard was kept before, and ``zest index`` then failed."""
    kept = set()
    for name, expected in zip(shards, rows):
        path = out / name
        if not path.is_file():
            continue
        record = written.get(name)
        damage = shard_damage(path, record)
        if damage is None and record["rows"] != expected:
            damage = f"holds {record['rows']} rows, not {expected}"
        if damage is None:
            kept.add(name)
        elif on_rewrite:
            on_rewrite(f"{path} {damage}: writing it again")
    return kept


def _shard_record(path: Path, rows: int) -> dict:
    """What meta.json's ``written`` holds for the shard at ``path``."""
    return {"rows": rows, "sha256": sha256_file(path)}


def _write_shard(path: Path, table, meta: dict) -> None:
    """``table`` as the shard ``path``, its record in meta.json before the rename: a kill in
    between leaves a record without its shard (written again), never an unrecorded shard."""
    import pyarrow.parquet as pq

    def write(temporary: Path) -> None:
        pq.write_table(table, temporary)
        meta["written"][path.name] = _shard_record(temporary, table.num_rows)
        write_json(path.parent / META, meta)

    write_atomic(path, write)


def _check_same_run(out: Path, found: dict, wanted: dict) -> None:
    for field in ("input_sha256", "shard_size", "encoder", "settings", "passages"):
        if found.get(field) != wanted.get(field):
            raise ZestError(
                f"{out} holds embeddings of another run ({field} differs:"
                f" {found.get(field)!r} there, {wanted.get(field)!r} now);"
                f" use another --out"
            )
    if found.get("context", {}).get("key") != wanted["context"]["key"]:
        raise ZestError(
            f"{out} holds embeddings with context {found['context']['label']!r},"
            f" not {wanted['context']['label']!r}; use another --out"
        )


# beyond one machine ------------------------------------------------------------------------
class _EncodeBatch:
    """A Ray Data actor: the same encoder object and the same rows as ``zest embed``."""

    def __init__(self, encoder: AdaptedEncoder):
        self.encoder = encoder  # unpickled here without its model, which loads on first use

    def __call__(self, batch):
        return encode_table(
            self.encoder,
            [str(i) for i in batch.column("id").to_pylist()],
            batch.column("text").to_pylist(),
        )


def embed_with_ray(
    encoder: AdaptedEncoder, dataset, out: Path, shard_size: int = 4096, concurrency: int = 1
) -> dict:
    """Encode a Ray dataset of ``id`` and ``text`` columns into Parquet shards under ``out``
    with the same columns and metadata as ``zest embed`` (so ``zest index`` reads them), one
    encoder per Ray actor. Ray names the files; ``meta.json`` lists them once all exist."""
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    written = out / ".ray"
    dataset.map_batches(
        _EncodeBatch,
        fn_constructor_args=(encoder,),
        batch_size=shard_size,
        batch_format="pyarrow",
        concurrency=concurrency,
    ).write_parquet(str(written), min_rows_per_file=shard_size)
    shards, records = [], {}
    for number, path in enumerate(sorted(written.glob("*.parquet"))):
        shards.append(shard_name(number))
        records[shards[-1]] = _shard_record(path, pq.ParquetFile(path).metadata.num_rows)
        os.replace(path, out / shards[-1])
    written.rmdir()
    count = sum(record["rows"] for record in records.values())
    meta = {
        "format": FORMAT,
        "input": "ray dataset",
        "input_sha256": None,
        "count": count,
        "shard_size": shard_size,
        **encoder.metadata(),
        "complete": True,
        "shards": shards,
        "written": records,
    }
    write_state(out / STATE, encoder)
    write_json(out / META, meta)
    return meta


__all__ = [
    "check_shards",
    "embed",
    "embed_with_ray",
    "encode_table",
    "read_meta",
    "read_records",
    "read_state",
]
