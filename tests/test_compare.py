"""zest compare: the metrics on texts whose values can be counted by hand, the table and JSON
over real versions in a real SQLite file checked against the same metrics computed by hand
from the file, and the retrieval columns checked against a ranking scored here."""

import json
import re
import sqlite3

import pytest
from click.testing import CliRunner
from conftest import SCIFACT_EXEMPLARS, beir, clean_exit, rank_metrics

from zest_core.cli import cli
from zest_core.corpus.compare import anchor_diversity, distinct_n, exemplar_vocabulary_overlap
from zest_core.corpus.store import Store


def zest(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    clean_exit(result)
    return result.stdout


def test_distinct_n():
    texts = ["the cat saw the cat", "The dog"]
    assert distinct_n(texts, 1) == 4 / 7  # the, cat, saw, dog over 7 words
    assert distinct_n(texts, 2) == 4 / 5  # "the cat" twice; pairs never cross documents
    assert distinct_n(["one"], 2) is None


def test_anchor_diversity():
    assert anchor_diversity(["Gene expression", "gene expression"]) == 0.0
    assert anchor_diversity(["a b", "c d", "a c"]) == pytest.approx(1 - (0 + 1 / 3 + 1 / 3) / 3)
    assert anchor_diversity(["only one"]) is None


def test_exemplar_vocabulary_overlap():
    assert exemplar_vocabulary_overlap(
        ["Insulin and kinase."], ["kinase, insulin, cortex"]
    ) == pytest.approx(2 / 3)
    assert exemplar_vocabulary_overlap(["anything"], []) is None


def fake_versions(db):
    common = ["run", "--exemplars", SCIFACT_EXEMPLARS, "--generator", "fake", "--db", db]
    zest(*common, "--anchors", 4, "--docs", 8, "--seed", 1)
    zest(
        *common,
        "--anchors",
        2,
        "--docs",
        4,
        "--seed",
        2,
        "-o",
        "constant=true",
        "--strategy",
        "direct",
    )


def by_hand(db, vid):
    """The metrics of ``zest compare`` computed here from the SQLite file with plain SQL and
    sets, sharing no code with zest_core.corpus.compare."""
    conn = sqlite3.connect(db)
    docs = [
        t
        for (t,) in conn.execute(
            "SELECT text FROM documents WHERE version_id = ? ORDER BY ordinal", [vid]
        )
    ]
    anchors = [
        t
        for (t,) in conn.execute(
            "SELECT text FROM anchors WHERE version_id = ? ORDER BY ordinal", [vid]
        )
    ]
    exemplars = [
        t for (t,) in conn.execute("SELECT text FROM exemplars WHERE version_id = ?", [vid])
    ]
    tokens = sum(
        n
        for (n,) in conn.execute(
            "SELECT token_count FROM documents WHERE version_id = ? UNION ALL "
            "SELECT completion_tokens FROM anchors WHERE version_id = ?",
            [vid, vid],
        )
    )
    seconds = conn.execute("SELECT wall_seconds FROM versions WHERE id = ?", [vid]).fetchone()[0]
    conn.close()
    split = [re.findall(r"\w+", d.lower()) for d in docs]

    def distinct(n):
        grams = [tuple(w[i : i + n]) for w in split for i in range(len(w) - n + 1)]
        return len(set(grams)) / len(grams)

    sets = [set(re.findall(r"\w+", a.lower())) for a in anchors]
    pairs = [len(a & b) / len(a | b) for i, a in enumerate(sets) for b in sets[i + 1 :]]
    reference = set(re.findall(r"\w+", " ".join(exemplars).lower()))
    used = {w for words in split for w in words}
    return {
        "documents": len(docs),
        "completion_tokens": tokens,
        "tokens_per_second": tokens / seconds,
        "anchors": len(anchors),
        "anchor_diversity": 1 - sum(pairs) / len(pairs) if pairs else None,
        "distinct_1": distinct(1),
        "distinct_2": distinct(2),
        "exemplar_vocabulary_overlap": len(reference & used) / len(reference),
        "mean_document_words": sum(map(len, split)) / len(split),
    }


def test_compare_table_and_json(db_path):
    fake_versions(db_path)
    rows = [
        json.loads(line) for line in zest("compare", 1, 2, "--json", "--db", db_path).splitlines()
    ]
    assert [r["version"] for r in rows] == [1, 2]
    for row in rows:
        assert row["generator"] == "fake"
        expected = by_hand(db_path, row["version"])
        assert {k: row[k] for k in expected} == pytest.approx(expected)
        assert row["completion_tokens"] > 0
    assert rows[0]["anchors"] == 4 and 0 < rows[0]["anchor_diversity"] < 1
    assert rows[1]["anchors"] == 0 and rows[1]["anchor_diversity"] is None
    table = zest("compare", 1, 2, "--db", db_path)
    assert "version 1" in table and "version 2" in table and "nDCG" not in table
    for label, key in (
        ("generator", "generator"),
        ("tokens/s", "tokens_per_second"),
        ("anchor diversity", "anchor_diversity"),
        ("distinct-2", "distinct_2"),
        ("exemplar vocabulary overlap", "exemplar_vocabulary_overlap"),
        ("mean document words", "mean_document_words"),
    ):
        line = next(line for line in table.splitlines() if label in line)
        cells = [c.strip() for c in line.split("│")[1:-1]]
        assert len(cells) == 3  # label and one cell per version, between borders
        for cell, row in zip(cells[1:], rows):  # each version's value, in its own column
            value = row[key]
            assert cell == (
                "-"
                if value is None
                else str(value)
                if isinstance(value, str)
                else f"{value:.1f}"
                if key in ("tokens_per_second", "mean_document_words")
                else f"{value:.3f}"
            )


def test_compare_unknown_version(db_path):
    fake_versions(db_path)
    result = CliRunner().invoke(cli, ["compare", "1", "9", "--db", str(db_path)])
    assert "no corpus version '9'" in clean_exit(result, 1)


TOPICS = {
    "d1": "Insulin signalling controls glucose uptake in muscle cells.",
    "d2": "Insulin resistance is the hallmark of type 2 diabetes.",
    "d3": "Glucose transporters move sugar across the cell membrane.",
    "d4": "Vaccines train the immune system to recognise a virus.",
    "d5": "Antibodies bind antigens on the surface of pathogens.",
    "d6": "T cells kill infected cells after antigen presentation.",
}
QUERIES = {"q1": "how does insulin affect glucose", "q2": "how do antibodies fight infection"}


OFF_TOPIC = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor."


def retrieval_beir(root, n_others=110):
    """Six documents on two topics among ``n_others`` real SciFact abstracts (their first 20
    words, to keep encoding quick), a query for each topic, and for q1 also one judged
    document that has nothing to do with it: Recall@100 falls below 100."""
    scifact = beir("scifact")
    with (scifact / "corpus.jsonl").open() as f:
        others = {
            f"s{row['_id']}": " ".join(row["text"].split()[:20])
            for row in (json.loads(line) for _, line in zip(range(n_others), f))
        }
    off_topic = "lorem"
    docs = TOPICS | others | {off_topic: OFF_TOPIC}
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": k, "title": "", "text": v}) + "\n" for k, v in docs.items())
    )
    (root / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in QUERIES.items())
    )
    qrels = {"q1": ["d1", "d2", off_topic], "q2": ["d5", "d6"]}
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n"
        + "".join(f"{q}\t{d}\t1\n" for q, judged in qrels.items() for d in judged)
    )
    return root, docs, qrels


def metrics_by_hand(db, docs, qrels):
    """``metrics(vid)``: nDCG@10 and Recall@100 (%) of the hybrid encoder with version ``vid``
    as context, from the encoder's scores and a ranking computed here, not through ``zest
    compare``, mteb or the caches."""
    from zest_encoders import HybridEncoder

    encoder = HybridEncoder(weight=WEIGHT)
    texts, queries = list(docs.values()), [QUERIES[q] for q in qrels]
    vectors = encoder.embed_queries(queries), encoder.embed_documents(texts)

    def metrics(vid):
        context = [
            t
            for (t,) in sqlite3.connect(db).execute(
                "SELECT text FROM documents WHERE version_id = ? ORDER BY ordinal", [vid]
            )
        ]
        encoder.use(encoder.derive(context) if vid else None)
        scores = encoder.scores(queries, vectors[0], texts, vectors[1])
        ndcg, recall = rank_metrics(scores, list(docs), [set(j) for j in qrels.values()])
        return 100 * ndcg, 100 * recall

    return metrics


# BM25 weighs enough here that each context gives its own ranking of this dataset
WEIGHT = 0.3


@pytest.mark.slow
def test_compare_with_retrieval(db_path, tmp_path):
    fake_versions(db_path)
    dataset, docs, qrels = retrieval_beir(tmp_path / "tiny")
    encoder = ["--encoder", "hybrid", "-o", f"weight={WEIGHT}"]
    rows = [
        json.loads(line)
        for line in zest(
            "compare", 1, 2, "--dataset", dataset, *encoder, "--json", "--db", db_path
        ).splitlines()
    ]
    stored = Store(db_path).db.execute_returning_dicts(
        "SELECT context, ndcg_at_10, recall_at_100 FROM eval_results ORDER BY id"
    )
    assert [s["context"] for s in stored] == [
        f"version {v} (scifact, {n} docs)" for v, n in ((1, 8), (2, 4))
    ]
    by_hand = metrics_by_hand(db_path, docs, qrels)
    assert len({by_hand(v)[0] for v in (None, 1, 2)}) == 3  # so using the wrong one would show
    for row, result in zip(rows, stored):
        assert row["encoder"] == "hybrid"
        assert row["ndcg_at_10"] == pytest.approx(100 * result["ndcg_at_10"])
        assert row["recall_at_100"] == pytest.approx(100 * result["recall_at_100"])
        ndcg, recall = by_hand(row["version"])
        assert row["ndcg_at_10"] == pytest.approx(ndcg, abs=1e-3)  # mteb rounds to 5 decimals
        assert row["recall_at_100"] == pytest.approx(recall, abs=1e-3)
        assert 0 < row["ndcg_at_10"] < 100 and 0 < row["recall_at_100"] < 100
    table = zest("compare", 1, 2, "--dataset", dataset, *encoder, "--db", db_path)
    assert "nDCG@10" in table and "Recall@100" in table
    assert f"{rows[0]['ndcg_at_10']:.2f}" in table and f"{rows[1]['recall_at_100']:.2f}" in table
