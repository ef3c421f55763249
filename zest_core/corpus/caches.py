"""The encoders' caches in store.db, as SQL only: contexts/encoding.py packs and unpacks
what they hold (numpy arrays), these classes read and write the rows.

``context_cache`` holds what an encoder derives from a context, one blob per key;
``embedding_cache`` holds one row per set of document vectors (its ``count`` and ``dim``) and
``embedding_chunks`` the vectors themselves, a run of them per row.
"""

from collections.abc import Iterable, Iterator

from .store import Store


class ContextCache:
    """The ``context_cache`` table."""

    def __init__(self, store: Store):
        self.store = store

    def get(self, key: str) -> bytes | None:
        """The blob stored under ``key``, or None."""
        row = self.store.db.execute(
            "SELECT data FROM context_cache WHERE key = ?", [key]
        ).fetchone()
        return row[0] if row else None

    def put(self, row: dict) -> None:
        """Store (or replace) one entry, in one transaction."""
        with self.store.transaction():
            self.store.db["context_cache"].insert(row, replace=True)


class EmbeddingCache:
    """The ``embedding_cache`` table and its ``embedding_chunks``."""

    def __init__(self, store: Store):
        self.store = store

    def entry(self, key: str) -> tuple[int, int, bytes | None] | None:
        """``(count, dim, data)`` of the entry under ``key`` (``data`` is set only on entries
        written before migration m006), or None."""
        return self.store.db.execute(
            "SELECT count, dim, data FROM embedding_cache WHERE key = ?", [key]
        ).fetchone()

    def chunks(self, key: str) -> Iterator[bytes]:
        """The entry's chunk blobs, in order."""
        for (chunk,) in self.store.db.execute(
            "SELECT data FROM embedding_chunks WHERE key = ? ORDER BY chunk", [key]
        ):
            yield chunk

    def put(self, entry: dict, chunks: Iterable[bytes]) -> None:
        """Replace the entry and its chunks in one transaction: whole or absent."""
        key = entry["key"]
        with self.store.transaction():
            self.store.db.execute("DELETE FROM embedding_chunks WHERE key = ?", [key])
            self.store.db["embedding_cache"].insert(entry, replace=True)
            self.store.db["embedding_chunks"].insert_all(
                ({"key": key, "chunk": i, "data": data} for i, data in enumerate(chunks)),
                replace=True,
            )
