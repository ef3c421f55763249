"""A local BEIR directory (``corpus.jsonl``, ``queries.jsonl``, ``qrels/test.tsv``), checked
and loaded: only the judged queries, judgements of missing documents counted (or refused
with ``strict``), and a fingerprint of the corpus for the embedding cache."""

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import ZestError
from ..textfiles import read_jsonl, read_text

SPLIT = "test"
FILES = ("corpus.jsonl", "queries.jsonl", f"qrels/{SPLIT}.tsv")


@dataclass
class BeirDataset:
    name: str
    path: Path
    corpus: dict[str, dict]  # id -> {"title", "text"}
    queries: dict[str, str]  # only the queries that the qrels judge
    qrels: dict[str, dict[str, int]]
    fingerprint: str  # sha256 of corpus.jsonl: the corpus-embedding cache key
    dropped_judgements: int = 0  # qrels naming documents that corpus.jsonl lacks

    @property
    def shares_ids(self) -> bool:
        """Whether some judged query is also a corpus document (ArguAna, Quora, FiQA...)."""
        return not self.corpus.keys().isdisjoint(self.queries)

    @property
    def qrels_digest(self) -> str:
        return hashlib.sha256(json.dumps(self.qrels, sort_keys=True).encode()).hexdigest()

    def document_texts(self) -> list[str]:
        """Title and text joined, as mteb does."""
        return [
            f"{d['title']} {d['text']}".strip() if d["title"] else d["text"]
            for d in self.corpus.values()
        ]


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    for number, row in read_jsonl(path):
        if "_id" not in row or "text" not in row:
            raise ZestError(f"{path}, line {number}: each line needs '_id' and 'text'")
        if not isinstance(row["text"], str) or not isinstance(row.get("title") or "", str):
            raise ZestError(f"{path}, line {number}: 'text' and 'title' must be strings")
        rows.append(row)
    return rows


def _unknown(kind: str, ids: set[str], path: Path, source: str) -> ZestError:
    examples = ", ".join(repr(i) for i in sorted(ids)[:3])
    return ZestError(f"{path} names {len(ids)} {kind} id(s) missing from {source}: {examples}")


def load_beir(directory: str | Path, strict: bool = False) -> BeirDataset:
    """Load and check a BEIR directory: corpus.jsonl, queries.jsonl, qrels/test.tsv.

    Judgements of documents that corpus.jsonl lacks are dropped and counted, as BEIR's own
    loader does (one official download names 5 such documents); ``strict`` refuses them.
    """
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise ZestError(f"dataset directory {root} does not exist")
    missing = [name for name in FILES if not (root / name).is_file()]
    if missing:
        raise ZestError(
            f"dataset {root} lacks {', '.join(missing)} (a BEIR directory has {', '.join(FILES)})"
        )
    corpus_path = root / "corpus.jsonl"
    corpus = {
        str(r["_id"]): {"title": r.get("title") or "", "text": r["text"]}
        for r in _read_jsonl(corpus_path)
    }
    queries = {str(r["_id"]): r["text"] for r in _read_jsonl(root / "queries.jsonl")}
    qrels_path = root / "qrels" / f"{SPLIT}.tsv"
    qrels: dict[str, dict[str, int]] = {}
    for number, row in enumerate(csv.reader(read_text(qrels_path).splitlines(), delimiter="\t"), 1):
        if not row or (number == 1 and row[0] == "query-id"):
            continue
        try:
            query_id, doc_id, score = row[0], row[1], int(row[2])
        except (IndexError, ValueError):
            raise ZestError(
                f"{qrels_path}:{number}: expected 'query-id<TAB>corpus-id"
                f"<TAB>score' with an integer score"
            ) from None
        qrels.setdefault(query_id, {})[doc_id] = score
    if not corpus or not qrels:
        raise ZestError(f"dataset {root} has no {'documents' if not corpus else 'qrels'}")
    if unknown := set(qrels) - set(queries):
        raise _unknown("query", unknown, qrels_path, "queries.jsonl")
    dropped = 0
    if unknown := {d for judged in qrels.values() for d in judged} - set(corpus):
        if strict:
            raise _unknown("corpus", unknown, qrels_path, "corpus.jsonl")
        dropped = sum(d in unknown for judged in qrels.values() for d in judged)
        qrels = {
            q: kept
            for q, judged in qrels.items()
            if (kept := {d: s for d, s in judged.items() if d not in unknown})
        }
        if not qrels:
            raise ZestError(f"{qrels_path}: no judgement names a document of corpus.jsonl")
    fingerprint = hashlib.sha256(corpus_path.read_bytes()).hexdigest()
    return BeirDataset(
        root.name,
        root.resolve(),
        corpus,
        {q: queries[q] for q in qrels},
        qrels,
        fingerprint,
        dropped,
    )


__all__ = ["FILES", "SPLIT", "BeirDataset", "load_beir"]
