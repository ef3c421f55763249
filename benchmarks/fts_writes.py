"""What the store's full-text index (``documents_fts``, for ``zest browse``) costs writers.

Stores real SciFact abstracts as documents of a version (one transaction, as a resume or an
import would), then copies them into a child (as ``zest filter`` does), in a store with the
index and in one whose index triggers are dropped, alternating, so the machine's drift falls
on both alike; reports seconds and the file's size (with its WAL).

    python benchmarks/fts_writes.py                # all 5,183 abstracts, 2 rounds
    python benchmarks/fts_writes.py --docs 1000 --rounds 1
"""

import argparse
import datetime
import json
import os
import tempfile
import time
from pathlib import Path

from zest_core.corpus.store import Store

BEIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "beir"


def measure(texts: list[str], indexed: bool) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "zest.db"
        store = Store(path)
        if not indexed:
            for trigger in ("documents_ai", "documents_ad", "documents_au"):
                store.db.execute(f"DROP TRIGGER {trigger}")
        run = store.create_version("c", kind="run", config={})
        started = time.perf_counter()
        with store.transaction():
            for ordinal, text in enumerate(texts):
                store.add_document(run, ordinal, text)
        added = time.perf_counter() - started
        child = store.create_version("c", kind="filter", config={}, parent_id=run)
        started = time.perf_counter()
        store.copy_into(run, child)
        copied = time.perf_counter() - started
        size = sum(p.stat().st_size for p in path.parent.iterdir())
        store.db.conn.close()
    return {"add_s": added, "copy_s": copied, "mb": size / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=0, help="0: every SciFact abstract")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with (BEIR / "scifact" / "corpus.jsonl").open() as f:
        texts = [json.loads(line)["text"] for line in f]
    texts = texts[: args.docs or None]
    print(
        f"{datetime.date.today()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f},"
        f" {len(texts)} documents"
    )
    for _ in range(args.rounds):
        for indexed in (True, False):
            got = measure(texts, indexed)
            name = "with the index" if indexed else "without it"
            print(
                f"{name:15} add {got['add_s']:5.1f} s, copy {got['copy_s']:5.1f} s,"
                f" {got['mb']:5.1f} MB"
            )


if __name__ == "__main__":
    main()
