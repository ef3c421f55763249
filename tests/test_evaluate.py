"""zest eval on a small real slice of SciFact: metrics through mteb, caches, stored rows,
bad-input messages, and the CLI."""

import json
import math
import random
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import beir, clean_exit, rank_metrics

from zest_core import ZestError
from zest_core.contexts.beir import load_beir
from zest_core.contexts.scoring import evaluate_contexts

FAST = {"max_seq_length": 128}  # short inputs keep the real model quick on a shared CPU


def make_beir_slice(root, n_queries=20, n_others=60, seed=0):
    """A BEIR directory of ``n_queries`` SciFact test queries, the documents they judge
    relevant, and ``n_others`` others: half hard negatives (sharing the most words with a
    query), half random, so that rankings are not trivially perfect."""
    from sklearn.feature_extraction.text import CountVectorizer

    SCIFACT = beir("scifact")
    lines = (SCIFACT / "qrels" / "test.tsv").read_text().splitlines()
    qrels = [line.split("\t") for line in lines[1:]]
    query_ids = sorted({q for q, _, _ in qrels}, key=int)[:n_queries]
    qrels = [row for row in qrels if row[0] in query_ids]
    relevant = {d for _, d, _ in qrels}
    queries = [json.loads(line) for line in (SCIFACT / "queries.jsonl").open()]
    queries = [q for q in queries if q["_id"] in query_ids]
    corpus = [json.loads(line) for line in (SCIFACT / "corpus.jsonl").open()]
    words = CountVectorizer(stop_words="english", binary=True).fit(
        [d["title"] + " " + d["text"] for d in corpus]
    )
    overlap = (
        words.transform([q["text"] for q in queries])
        @ words.transform([d["title"] + " " + d["text"] for d in corpus]).T
    ).toarray()
    hard = {
        corpus[j]["_id"]
        for row in overlap
        for j in row.argsort()[::-1][: n_others // 2 // n_queries + 1]
    }
    hard -= relevant
    rest = [d for d in corpus if d["_id"] not in relevant | hard]
    picked = (
        relevant
        | hard
        | {d["_id"] for d in random.Random(seed).sample(rest, max(n_others - len(hard), 0))}
    )
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(
        "".join(json.dumps(d) + "\n" for d in corpus if d["_id"] in picked)
    )
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join("\t".join(row) + "\n" for row in qrels)
    )
    return root


@pytest.fixture(scope="module")
def beir_slice(tmp_path_factory):
    return make_beir_slice(tmp_path_factory.mktemp("beir") / "scifact-slice")


@pytest.fixture(scope="module")
def by_hand(beir_slice):
    """``by_hand(context_texts)``: nDCG@10 and Recall@100 of the hybrid encoder on the slice
    with the statistics of ``context_texts`` (None: no context), from the encoder's scores and
    a ranking computed here, not through evaluate_contexts, mteb or the caches."""
    from zest_encoders import HybridEncoder

    data = load_beir(beir_slice)
    encoder = HybridEncoder(**FAST)
    queries = [data.queries[q] for q in data.qrels]
    texts = data.document_texts()
    vectors = encoder.embed_queries(queries), encoder.embed_documents(texts)
    judged = [set(d for d, score in docs.items() if score > 0) for docs in data.qrels.values()]

    def metrics(context_texts):
        encoder.use(None if context_texts is None else encoder.derive(context_texts))
        scores = encoder.scores(queries, vectors[0], texts, vectors[1])
        return rank_metrics(scores, list(data.corpus), judged)

    return metrics


def complete_version(store, texts, status="complete"):
    version = store.create_version("ctx", kind="run", config={}, target_docs=len(texts))
    for i, text in enumerate(texts):
        store.add_document(version, i, text)
    store.finish(version, status, 1.0)
    return version


def counting(monkeypatch, cls, method):
    """Count calls to ``cls.method`` while still running it."""
    calls = []
    real = getattr(cls, method)

    def spy(self, *args, **kwargs):
        calls.append(args)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(cls, method, spy)
    return calls


def test_load_beir_reads_only_judged_queries(beir_slice):
    data = load_beir(beir_slice)
    assert set(data.queries) == set(data.qrels)
    assert len(data.queries) == 20
    assert all(doc in data.corpus for judged in data.qrels.values() for doc in judged)
    assert len(data.document_texts()) == len(data.corpus)


@pytest.mark.parametrize(
    "broken, message",
    [
        (lambda d: (d / "queries.jsonl").unlink(), "lacks queries.jsonl"),
        (lambda d: (d / "qrels" / "test.tsv").unlink(), "lacks qrels/test.tsv"),
        (
            lambda d: (d / "qrels" / "test.tsv").open("a").write("999999\t31715818\t1\n"),
            "1 query id(s) missing from queries.jsonl: '999999'",
        ),
        (
            lambda d: (d / "qrels" / "test.tsv").open("a").write("1\tno-such-doc\t1\n"),
            "1 corpus id(s) missing from corpus.jsonl: 'no-such-doc'",
        ),
        (lambda d: (d / "corpus.jsonl").open("a").write("{not json\n"), "not valid JSON"),
        (lambda d: (d / "qrels" / "test.tsv").open("a").write("1\tx\n"), "integer score"),
        (lambda d: (d / "queries.jsonl").open("ab").write(b"\xff\n"), "not valid UTF-8 text"),
    ],
)
def test_bad_dataset_gives_one_clear_message(beir_slice, tmp_path, broken, message):
    copy = shutil.copytree(beir_slice, tmp_path / "copy")
    broken(copy)
    with pytest.raises(ZestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_beir(copy, strict=True)


def test_missing_directory(tmp_path):
    with pytest.raises(ZestError, match="does not exist"):
        load_beir(tmp_path / "nowhere")


@pytest.mark.slow
def test_dense_corpus_embeddings_are_encoded_once(store, beir_slice, monkeypatch):
    from zest_encoders import DenseEncoder

    calls = counting(monkeypatch, DenseEncoder, "embed_documents")
    first = evaluate_contexts(store, beir_slice, "dense", ["none"], **FAST)
    again = evaluate_contexts(store, beir_slice, "dense", ["none"], **FAST)
    assert len(calls) == 1
    assert (first[0]["corpus_cached"], again[0]["corpus_cached"]) == (False, True)
    assert again[0]["ndcg_at_10"] == pytest.approx(first[0]["ndcg_at_10"])
    assert 0.5 < first[0]["ndcg_at_10"] <= 1 and 0 < first[0]["recall_at_100"] <= 1
    rows = list(store.db["eval_results"].rows)
    # one result per key (#32): scoring the same key again replaces its row and keeps its id
    assert [r["id"] for r in rows] == [first[0]["id"]] == [again[0]["id"]]
    assert rows[0]["dataset"] == "scifact-slice" and rows[0]["encoder"] == "dense"
    assert rows[0]["context"] == "none"
    settings = json.loads(rows[0]["settings"])
    assert settings["max_seq_length"] == 128 and settings["model"] == "all-MiniLM-L6-v2"
    assert json.loads(rows[0]["metrics"])["ndcg_at_10"] == rows[0]["ndcg_at_10"]


@pytest.mark.slow
def test_hybrid_shares_the_dense_corpus_cache_and_context_changes_scores(
    store, beir_slice, monkeypatch, by_hand
):
    from zest_encoders import DenseEncoder, HybridEncoder

    encodes = counting(monkeypatch, DenseEncoder, "embed_documents")
    derives = counting(monkeypatch, HybridEncoder, "derive")
    evaluate_contexts(store, beir_slice, "dense", ["none"], **FAST)
    rows = evaluate_contexts(store, beir_slice, "hybrid", ["none", "real"], **FAST)
    assert len(encodes) == 1 and all(r["corpus_cached"] for r in rows)
    none, real = rows
    assert none["ndcg_at_10"] != real["ndcg_at_10"]
    assert real["label"].startswith("real (") and not real["context_cached"]
    again = evaluate_contexts(store, beir_slice, "hybrid", ["real"], **FAST)
    assert again[0]["context_cached"] and len(derives) == 1
    assert again[0]["ndcg_at_10"] == pytest.approx(real["ndcg_at_10"])
    other_seed = evaluate_contexts(store, beir_slice, "hybrid", ["real:10"], seed=1, **FAST)
    assert not other_seed[0]["context_cached"] and len(derives) == 2
    # ... and changes them as it should: each is the ranking with that context's statistics
    slice_texts = load_beir(beir_slice).document_texts()  # fewer than 512: real is all of them
    for row, context in ((none, None), (real, slice_texts)):
        assert (row["ndcg_at_10"], row["recall_at_100"]) == pytest.approx(
            by_hand(context), abs=1e-5
        )  # mteb rounds to 5 decimals


@pytest.mark.slow
def test_synthetic_version_as_context(store, beir_slice, by_hand):
    texts = [doc["text"] for doc in load_beir(beir_slice).corpus.values()][:12]
    version = complete_version(store, texts)
    none, synthetic = evaluate_contexts(store, beir_slice, "hybrid", ["none", str(version)], **FAST)
    assert synthetic["label"] == f"version {version} (ctx, 12 docs)"
    assert synthetic["ndcg_at_10"] != none["ndcg_at_10"]
    # the version's own documents gave the statistics, not the target corpus's
    assert (synthetic["ndcg_at_10"], synthetic["recall_at_100"]) == pytest.approx(
        by_hand(texts), abs=1e-5
    )
    assert by_hand(texts) != by_hand(load_beir(beir_slice).document_texts())


def bm25_by_hand(query, documents, context, k1=1.2, b=0.75):
    """Okapi BM25 (Lucene's idf) written out for texts of plain, non-stop words; with no
    context every term weighs 1 and lengths are not normalised."""
    lengths = [len(d.split()) for d in context or []]
    rows = []
    for doc in documents:
        words, score = doc.split(), 0.0
        for term in set(query.split()):
            tf = words.count(term)
            if context is None:
                score += tf * (k1 + 1) / (tf + k1)
                continue
            n, df = len(context), sum(term in c.split() for c in context)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            norm = k1 * (1 - b + b * len(words) / (sum(lengths) / n))
            score += idf * tf * (k1 + 1) / (tf + norm)
        rows.append(score)
    return rows


CONTEXT = [
    "insulin glucose liver",
    "insulin muscle uptake",
    "insulin kinase pathway signalling",
    "insulin secretion beta",
    "glucose transport membrane",
]
TARGET = [
    "insulin insulin glucose",
    "kinase pathway",
    "kinase kinase kinase kinase neuron cortex",
    "membrane receptor",
]


@pytest.mark.parametrize("context", [CONTEXT, None], ids=["context", "none"])
def test_bm25_matches_the_formula(context):
    from zest_encoders import HybridEncoder

    encoder = HybridEncoder()
    encoder.use(None if context is None else encoder.derive(context))
    queries = ["insulin kinase", "glucose membrane receptor", "cortex"]
    np.testing.assert_allclose(
        encoder.bm25(queries, TARGET),
        [bm25_by_hand(q, TARGET, context) for q in queries],
        rtol=1e-9,
    )


def test_a_context_that_makes_a_query_term_rare_ranks_its_documents_higher():
    """The hybrid's mechanism: the same two documents, one with each query term, swap places
    when the context swaps which term is rare, while the dense side stays the same."""
    from zest_encoders import HybridEncoder

    encoder = HybridEncoder(**FAST)
    query, docs = ["insulin kinase signalling"], ["insulin resistance", "kinase resistance"]
    vectors = encoder.embed_queries(query), encoder.embed_documents(docs)
    rare = {
        "kinase": ["insulin diet", "insulin liver", "insulin kinase", "insulin muscle"],
        "insulin": ["kinase diet", "kinase liver", "kinase insulin", "kinase muscle"],
    }
    margin = {}  # score of the kinase document minus the insulin one, per rare term
    for term, context in rare.items():
        encoder.use(encoder.derive(context))
        bm25 = encoder.bm25(query, docs)[0]
        assert bm25[docs.index(f"{term} resistance")] > bm25[1 - docs.index(f"{term} resistance")]
        scores = encoder.scores(query, vectors[0], docs, vectors[1])[0]
        margin[term] = scores[1] - scores[0]
    assert margin["kinase"] > margin["insulin"]


@pytest.mark.parametrize(
    "context, message",
    [
        ("42", "no corpus version '42'"),
        ("running", "is running, not complete"),
        ("real:x", "expected real, real:N or real:all"),
    ],
)
def test_bad_context_gives_one_clear_message(store, beir_slice, context, message):
    if context == "running":
        context = str(complete_version(store, ["a document"], status="running"))
    with pytest.raises(ZestError, match=message):
        evaluate_contexts(store, beir_slice, "hybrid", ["none", context], **FAST)
    assert store.db["eval_results"].count == 0  # contexts are checked before any work


def test_unknown_encoder(store, beir_slice):
    with pytest.raises(ZestError, match="unknown encoder 'nope' \\(available: cde, dense"):
        evaluate_contexts(store, beir_slice, "nope", ["none"])


def eval_none_and_real(dataset, db) -> list[str]:
    """``zest eval`` arguments: the hybrid (short inputs) with no context and the real one."""
    return [
        *("eval", "--dataset", str(dataset), "--encoder", "hybrid", "--context", "none,real"),
        *("-o", "max_seq_length=128", "--db", str(db)),
    ]


@pytest.mark.slow
def test_cli_eval_reports_cache_reuse_and_table(db_path, beir_slice):
    from zest_core.cli import cli

    args = eval_none_and_real(beir_slice, db_path)
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "corpus embeddings: encoded in" in first.output
    n_docs = len(load_beir(beir_slice).corpus)  # fewer than 512: the sample is all of it
    assert f"real ({n_docs}, seed 0)" in first.output and "nDCG@10" in first.output
    second = CliRunner().invoke(cli, args)
    assert "corpus embeddings: reused from the cache" in second.output
    assert second.output.count("reused") == 2  # corpus and the real context's statistics


def test_cli_context_builds_once(db_path, store):
    from zest_core.cli import cli

    version = complete_version(store, ["alpha beta", "beta gamma", "gamma delta"])
    args = ["context", str(version), "--encoder", "hybrid", "--db", str(db_path)]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "built and cached" in first.output
    assert "already cached" in CliRunner().invoke(cli, args).output
    assert store.db["context_cache"].count == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["eval", "--dataset", "{missing}", "--encoder", "dense"], "does not exist"),
        (["eval", "--dataset", "{slice}", "--encoder", "nope"], "unknown encoder 'nope'"),
        (["eval", "--dataset", "{slice}", "--context", "7"], "no corpus version '7'"),
        (["context", "7"], "no corpus version '7'"),
        (["eval", "--dataset", "{slice}", "--context", ","], "give at least one context"),
    ],
)
def test_cli_bad_input_exits_1_with_one_line(db_path, beir_slice, tmp_path, args, message):
    from zest_core.cli import cli

    args = [a.format(missing=tmp_path / "none", slice=beir_slice) for a in args]
    result = CliRunner().invoke(cli, [*args, "--db", str(db_path)])
    assert message in clean_exit(result, 1)


@pytest.mark.slow
def test_eval_never_touches_the_network(beir_slice, tmp_path):
    """mteb, sentence-transformers and the packaged model all run offline."""
    import subprocess
    import sys

    from conftest import TESTS

    record = tmp_path / "attempts.json"
    done = subprocess.run(
        [
            sys.executable,
            str(TESTS / "network_guard.py"),
            str(record),
            *eval_none_and_real(beir_slice, tmp_path / "z.db"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "real (" in done.stdout
    assert json.loads(record.read_text()) == []
