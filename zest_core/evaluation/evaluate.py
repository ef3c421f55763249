"""Retrieval evaluation of an encoder under several contexts, on a local BEIR directory.

The dataset is checked and loaded here, handed to mteb as a local retrieval task (no hub
access), and searched by a small mteb search model that takes the corpus vectors from the
store's cache, so comparing contexts encodes the target corpus once. Results go to the
``eval_results`` table.
"""

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .. import supervisor
from ..corpus.store import Store, now
from ..errors import ZestError
from .beir import SPLIT, BeirDataset, load_beir
from .encoding import (
    Context,
    Encoder,
    context_state,
    digest,
    document_vectors,
    make_encoder,
    resolve_context,
)


def _retrieval_task(dataset: BeirDataset, ignore_identical_ids: bool):
    """An mteb retrieval task whose data comes from ``dataset`` rather than the hub.

    mteb computes every query's scores and only averages them; ``per_query`` keeps them
    (set by ``task_specific_scores``, mteb's hook that receives them after each evaluation).
    """
    from datasets import Dataset
    from mteb.abstasks.retrieval import AbsTaskRetrieval
    from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData
    from mteb.abstasks.task_metadata import TaskMetadata

    class LocalRetrieval(AbsTaskRetrieval):
        metadata = TaskMetadata(
            name="ZestLocalRetrieval",
            type="Retrieval",
            main_score="ndcg_at_10",
            description=f"BEIR directory {dataset.path}",
            reference=None,
            dataset={"path": str(dataset.path), "revision": dataset.fingerprint[:12]},
            category="t2t",
            modalities=["text"],
            eval_splits=[SPLIT],
            eval_langs=["eng-Latn"],
            date=None,
            domains=None,
            task_subtypes=None,
            license=None,
            annotations_creators=None,
            dialect=None,
            sample_creation=None,
            bibtex_citation="",
        )
        per_query: dict[str, dict[str, float]] = {}

        def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
            corpus = Dataset.from_list([{"id": i, **doc} for i, doc in dataset.corpus.items()])
            queries = Dataset.from_list([{"id": i, "text": t} for i, t in dataset.queries.items()])
            split = RetrievalSplitData(
                corpus=corpus, queries=queries, relevant_docs=dataset.qrels, top_ranked=None
            )
            self.dataset = {"default": {SPLIT: split}}
            self.data_loaded = True

        def task_specific_scores(self, scores, qrels, results, hf_split, hf_subset):
            self.per_query = {
                q: {"ndcg_at_10": s["ndcg_cut_10"], "recall_at_100": s["recall_100"]}
                for q, s in scores.items()
            }
            return {}

    task = LocalRetrieval()
    task.ignore_identical_ids = ignore_identical_ids  # mteb's switch, read when scoring
    return task


class _Search:
    """mteb's search protocol over an encoder, the store's caches and one context."""

    mteb_model_meta = None

    def __init__(
        self,
        store: Store,
        encoder: Encoder,
        dataset: BeirDataset,
        context: Context,
        query_vectors: dict,
    ):
        self.store, self.encoder, self.dataset, self.context = store, encoder, dataset, context
        self.query_vectors = query_vectors  # shared across contexts unless vectors use them
        self.corpus_cached = False
        self.encode_seconds = 0.0

    def index(self, corpus, **kwargs: Any) -> None:
        """The cached vectors follow corpus.jsonl's order; take them in mteb's."""
        texts = self.dataset.document_texts()
        started = time.monotonic()
        vectors, self.corpus_cached = document_vectors(
            self.store,
            self.encoder,
            self.dataset.name,
            self.dataset.fingerprint,
            texts,
            self.context,
        )
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
        top = self.encoder.rank(
            texts, self.query_vectors[key], self.doc_texts, self.doc_vectors, top_k
        )
        return {
            qid: {self.doc_ids[j]: float(score) for j, score in zip(ids, scores)}
            for qid, ids, scores in zip(queries["id"], top.indices, top.scores)
        }


def resolve(
    store: Store, spec: str, encoder: Encoder, real_corpus: Sequence[str], seed: int = 0
) -> Context:
    """A ``--context`` value: ``generic`` / ``generic:N`` here, the rest in ``encoding``."""
    if spec.strip() == "generic" or spec.strip().startswith("generic:"):
        from .generic import generic_context

        return generic_context(spec.strip(), seed)
    return resolve_context(store, spec, encoder, real_corpus, seed)


def _result_key(data: BeirDataset, encoder: Encoder, context: Context, identical: bool) -> str:
    """What a score depends on: the corpus, the judgements, the encoder and its settings,
    the context's documents and the identical-ids rule."""
    return digest(
        [
            data.fingerprint,
            data.qrels_digest,
            encoder.name,
            encoder.settings(),
            context.key,
            identical,
        ]
    )


def _stored_result(store: Store, key: str) -> dict | None:
    row = store.latest_eval_result(key)
    if not row or not (per_query := query_scores(store, row["id"])):
        return None
    return {**row, "per_query": per_query}


def query_scores(store: Store, result_id: int) -> dict[str, dict[str, float]]:
    """Per-query nDCG@10 and Recall@100 of one stored result (empty for older results)."""
    return {
        r["query_id"]: {"ndcg_at_10": r["ndcg_at_10"], "recall_at_100": r["recall_at_100"]}
        for r in store.query_scores(result_id)
    }


def evaluate_contexts(
    store: Store,
    dataset: str | Path,
    encoder_name: str,
    contexts: Sequence[str],
    *,
    model: str | None = None,
    seed: int = 0,
    progress: bool = False,
    ignore_identical_ids: bool | None = None,
    strict: bool = False,
    reuse: bool = False,
    note: Callable[[str], None] | None = None,
    on_row: Callable[[dict], None] | None = None,
    **options: Any,
) -> list[dict]:
    """Evaluate one encoder on a BEIR directory once per context; store and return the rows.

    ``contexts``: ``none``, ``generic`` / ``generic:N`` (English word statistics, no domain
    data), ``real`` / ``real:N`` / ``real:all`` (a seeded sample of the target corpus), or a
    complete corpus version. Scores are fractions in [0, 1]; each row has ``per_query``.
    ``ignore_identical_ids``: ``None`` turns it on when a judged query id is also a corpus
    id. ``reuse``: return a stored result with the same inputs instead of scoring again.
    ``note`` receives one line for each thing the caller should be told; ``on_row`` each
    row as it is ready.
    """
    if not contexts:
        raise ZestError("give at least one context: none, generic, real or a corpus version")
    note = note or (lambda line: None)
    data = load_beir(dataset, strict=strict)
    if data.dropped_judgements:
        note(
            f"{data.dropped_judgements} judgement(s) name documents missing from "
            f"corpus.jsonl: dropped, as BEIR's loader does (--strict refuses them)"
        )
    identical = data.shares_ids if ignore_identical_ids is None else ignore_identical_ids
    if ignore_identical_ids is None and identical:
        note(
            "some judged queries are also corpus documents: a query's own document is not "
            "counted as retrieved (--keep-identical-ids to count it)"
        )
    encoder = make_encoder(encoder_name, model, **options)
    encoder.progress = progress
    try:
        texts = data.document_texts()
        resolved = [resolve(store, spec, encoder, texts, seed) for spec in contexts]
        task = _retrieval_task(data, identical)
        settings = {**encoder.settings(), "sample_seed": seed}
        rows, query_vectors = [], {}
        for context in resolved:
            key = _result_key(data, encoder, context, identical)
            if reuse and (stored := _stored_result(store, key)):
                rows.append(
                    {
                        "id": stored["id"],
                        "context": context.spec,
                        "label": context.label,
                        "ndcg_at_10": stored["ndcg_at_10"],
                        "recall_at_100": stored["recall_at_100"],
                        "per_query": stored["per_query"],
                        "reused": True,
                        "corpus_cached": True,
                        "context_cached": True,
                        "encode_seconds": 0.0,
                        "seconds": 0.0,
                    }
                )
            else:
                rows.append(
                    _score(
                        store,
                        data,
                        encoder,
                        task,
                        context,
                        query_vectors,
                        {
                            **settings,
                            "context": context.spec,
                            "dataset_path": str(data.path),
                            "corpus_sha256": data.fingerprint,
                            "qrels_sha256": data.qrels_digest,
                            "ignore_identical_ids": identical,
                            "key": key,
                        },
                    )
                )
            if on_row:
                on_row(rows[-1])
        return rows
    finally:
        encoder.close()


def _score(
    store: Store,
    data: BeirDataset,
    encoder: Encoder,
    task,
    context: Context,
    query_vectors: dict,
    settings: dict,
) -> dict:
    started = time.monotonic()
    with supervisor.stage(f"scoring {encoder.name} on {data.name} (context {context.label})"):
        state, context_cached = context_state(store, encoder, context)
        encoder.use(state)
        search = _Search(store, encoder, data, context, query_vectors)
        scores = task.evaluate(search, SPLIT, encode_kwargs={})["default"]
    row = {
        "context": context.spec,
        "label": context.label,
        "ndcg_at_10": scores["ndcg_at_10"],
        "recall_at_100": scores["recall_at_100"],
        "per_query": task.per_query,
        "reused": False,
        "corpus_cached": search.corpus_cached,
        "context_cached": context_cached,
        "encode_seconds": search.encode_seconds,
        "seconds": time.monotonic() - started,
    }
    # the result and its per-query scores in one transaction: a kill leaves both or neither
    row["id"] = store.add_eval_result(
        {
            "created": now(),
            "dataset": data.name,
            "encoder": encoder.name,
            "context": context.label,
            "settings": json.dumps(settings, sort_keys=True),
            "ndcg_at_10": row["ndcg_at_10"],
            "recall_at_100": row["recall_at_100"],
            "metrics": json.dumps(scores, sort_keys=True, default=str),
        },
        task.per_query,
    )
    return row


__all__ = ["evaluate_contexts", "query_scores", "resolve"]
