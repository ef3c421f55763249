"""Retrieval evaluation of an encoder under several contexts, on a local BEIR directory.

The dataset is checked and loaded here, handed to mteb as a local retrieval task (no hub
access), and searched by a small mteb search model that takes the corpus vectors from the
store's cache, so comparing contexts encodes the target corpus once. Results go to the
``eval_results`` table.
"""

import csv
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .encoding import (
    Context,
    Encoder,
    context_state,
    document_vectors,
    make_encoder,
    resolve_context,
)
from .errors import ZestError
from .textfiles import read_jsonl, read_text
from .store import Store, now

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

    def document_texts(self) -> list[str]:
        """Title and text joined, as mteb does."""
        return [f"{d['title']} {d['text']}".strip() if d["title"] else d["text"]
                for d in self.corpus.values()]


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


def load_beir(directory: str | Path) -> BeirDataset:
    """Load and check a BEIR directory: corpus.jsonl, queries.jsonl, qrels/test.tsv."""
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise ZestError(f"dataset directory {root} does not exist")
    missing = [name for name in FILES if not (root / name).is_file()]
    if missing:
        raise ZestError(f"dataset {root} lacks {', '.join(missing)}"
                        f" (a BEIR directory has {', '.join(FILES)})")
    corpus_path = root / "corpus.jsonl"
    corpus = {str(r["_id"]): {"title": r.get("title") or "", "text": r["text"]}
              for r in _read_jsonl(corpus_path)}
    queries = {str(r["_id"]): r["text"] for r in _read_jsonl(root / "queries.jsonl")}
    qrels_path = root / "qrels" / f"{SPLIT}.tsv"
    qrels: dict[str, dict[str, int]] = {}
    for number, row in enumerate(csv.reader(read_text(qrels_path).splitlines(), delimiter="\t"), 1):
        if not row or (number == 1 and row[0] == "query-id"):
            continue
        try:
            query_id, doc_id, score = row[0], row[1], int(row[2])
        except (IndexError, ValueError):
            raise ZestError(f"{qrels_path}:{number}: expected 'query-id<TAB>corpus-id"
                            f"<TAB>score' with an integer score") from None
        qrels.setdefault(query_id, {})[doc_id] = score
    if not corpus or not qrels:
        raise ZestError(f"dataset {root} has no {'documents' if not corpus else 'qrels'}")
    if unknown := set(qrels) - set(queries):
        raise _unknown("query", unknown, qrels_path, "queries.jsonl")
    if unknown := {d for judged in qrels.values() for d in judged} - set(corpus):
        raise _unknown("corpus", unknown, qrels_path, "corpus.jsonl")
    fingerprint = hashlib.sha256(corpus_path.read_bytes()).hexdigest()
    return BeirDataset(root.name, root.resolve(), corpus,
                       {q: queries[q] for q in qrels}, qrels, fingerprint)


def _retrieval_task(dataset: BeirDataset):
    """An mteb retrieval task whose data comes from ``dataset`` rather than the hub."""
    from datasets import Dataset
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData
    from mteb.abstasks.task_metadata import TaskMetadata

    class LocalRetrieval(AbsTaskRetrieval):
        metadata = TaskMetadata(
            name="ZestLocalRetrieval", type="Retrieval", main_score="ndcg_at_10",
            description=f"BEIR directory {dataset.path}", reference=None,
            dataset={"path": str(dataset.path), "revision": dataset.fingerprint[:12]},
            category="t2t", modalities=["text"], eval_splits=[SPLIT], eval_langs=["eng-Latn"],
            date=None, domains=None, task_subtypes=None, license=None,
            annotations_creators=None, dialect=None, sample_creation=None,
            bibtex_citation="")

        def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
            corpus = Dataset.from_list([{"id": i, **doc} for i, doc in dataset.corpus.items()])
            queries = Dataset.from_list([{"id": i, "text": t} for i, t in dataset.queries.items()])
            split = RetrievalSplitData(corpus=corpus, queries=queries,
                                       relevant_docs=dataset.qrels, top_ranked=None)
            self.dataset = {"default": {SPLIT: split}}
            self.data_loaded = True

    return LocalRetrieval()


class _Search:
    """mteb's search protocol over an encoder, the store's caches and one context."""

    mteb_model_meta = None

    def __init__(self, store: Store, encoder: Encoder, dataset: BeirDataset, context: Context,
                 query_vectors: dict):
        self.store, self.encoder, self.dataset, self.context = store, encoder, dataset, context
        self.query_vectors = query_vectors  # shared across contexts unless vectors use them
        self.corpus_cached = False
        self.encode_seconds = 0.0

    def index(self, corpus, **kwargs: Any) -> None:
        """The cached vectors follow corpus.jsonl's order; take them in mteb's."""
        texts = self.dataset.document_texts()
        started = time.monotonic()
        vectors, self.corpus_cached = document_vectors(
            self.store, self.encoder, self.dataset.name, self.dataset.fingerprint, texts,
            self.context)
        self.encode_seconds = time.monotonic() - started
        position = {doc_id: i for i, doc_id in enumerate(self.dataset.corpus)}
        self.doc_ids = list(corpus["id"])
        rows = [position[doc_id] for doc_id in self.doc_ids]
        self.doc_vectors = vectors[rows]
        self.doc_texts = [texts[i] for i in rows]

    def search(self, queries, *, top_k: int, **kwargs: Any) -> dict[str, dict[str, float]]:
        texts = list(queries["text"])
        key = self.context.key if self.encoder.vectors_use_context else None
        if key not in self.query_vectors:
            self.query_vectors[key] = self.encoder.embed_queries(texts)
        vectors = self.query_vectors[key]
        scores = self.encoder.scores(texts, vectors, self.doc_texts, self.doc_vectors)
        k = min(top_k, scores.shape[1])
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        return {qid: {self.doc_ids[j]: float(scores[i, j]) for j in top[i]}
                for i, qid in enumerate(queries["id"])}


def evaluate_contexts(store: Store, dataset: str | Path, encoder_name: str,
                      contexts: Sequence[str], *, model: str | None = None, seed: int = 0,
                      progress: bool = False, **options: Any) -> list[dict]:
    """Evaluate one encoder on a BEIR directory once per context; store and return the rows.

    ``contexts``: ``none``, ``real`` / ``real:N`` / ``real:all`` (a seeded sample of the
    target corpus), or a complete corpus version. Scores are fractions in [0, 1].
    """
    if not contexts:
        raise ZestError("give at least one context: none, real or a corpus version")
    data = load_beir(dataset)
    encoder = make_encoder(encoder_name, model, **options)
    encoder.progress = progress
    try:
        texts = data.document_texts()
        resolved = [resolve_context(store, spec, encoder, texts, seed) for spec in contexts]
        task = _retrieval_task(data)
        settings = {**encoder.settings(), "sample_seed": seed}
        rows, query_vectors = [], {}
        for context in resolved:
            started = time.monotonic()
            state, context_cached = context_state(store, encoder, context)
            encoder.use(state)
            search = _Search(store, encoder, data, context, query_vectors)
            scores = task.evaluate(search, SPLIT, encode_kwargs={})["default"]
            row = {"context": context.spec, "label": context.label,
                   "ndcg_at_10": scores["ndcg_at_10"], "recall_at_100": scores["recall_at_100"],
                   "corpus_cached": search.corpus_cached, "context_cached": context_cached,
                   "encode_seconds": search.encode_seconds,
                   "seconds": time.monotonic() - started}
            with store.transaction():
                row["id"] = store.db["eval_results"].insert({
                    "created": now(), "dataset": data.name, "encoder": encoder.name,
                    "context": context.label,
                    "settings": json.dumps({**settings, "context": context.spec,
                                            "dataset_path": str(data.path),
                                            "corpus_sha256": data.fingerprint}, sort_keys=True),
                    "ndcg_at_10": row["ndcg_at_10"], "recall_at_100": row["recall_at_100"],
                    "metrics": json.dumps(scores, sort_keys=True, default=str)}).last_pk
            rows.append(row)
        return rows
    finally:
        encoder.close()


__all__ = ["BeirDataset", "evaluate_contexts", "load_beir"]
