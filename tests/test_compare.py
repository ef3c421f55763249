"""zest compare: the metrics on texts whose values can be counted by hand, the table and JSON
over real versions in a real SQLite file, and the retrieval column on a tiny BEIR directory."""

import json

import pytest
from click.testing import CliRunner

from conftest import SCIFACT_EXEMPLARS
from zest_core.cli import cli
from zest_core.compare import (anchor_diversity, distinct_n, exemplar_vocabulary_overlap,
                               version_metrics)
from zest_core.store import Store


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
    assert exemplar_vocabulary_overlap(["Insulin and kinase."], ["kinase, insulin, cortex"]) \
        == pytest.approx(2 / 3)
    assert exemplar_vocabulary_overlap(["anything"], []) is None


def fake_versions(db):
    common = ["run", "--exemplars", SCIFACT_EXEMPLARS, "--generator", "fake", "--db", db]
    zest(*common, "--anchors", 4, "--docs", 8, "--seed", 1)
    zest(*common, "--anchors", 2, "--docs", 4, "--seed", 2, "-o", "constant=true",
         "--strategy", "direct")


def test_compare_table_and_json(db_path):
    fake_versions(db_path)
    store = Store(db_path)
    rows = [json.loads(line) for line in zest("compare", 1, 2, "--json", "--db", db_path)
            .splitlines()]
    assert [r["version"] for r in rows] == [1, 2]
    for row in rows:
        vid = row["version"]
        docs = [d["text"] for d in store.documents(vid)]
        totals = store.totals(vid)
        assert row["generator"] == "fake" and row["documents"] == len(docs)
        assert row["completion_tokens"] == totals["completion_tokens"] > 0
        assert row["tokens_per_second"] == pytest.approx(
            totals["completion_tokens"] / store.version(vid)["wall_seconds"])
        assert row["distinct_2"] == distinct_n(docs, 2)
        assert row == version_metrics(store, vid)
    assert rows[0]["anchors"] == 4 and 0 < rows[0]["anchor_diversity"] <= 1
    assert rows[1]["anchors"] == 0 and rows[1]["anchor_diversity"] is None
    table = zest("compare", 1, 2, "--db", db_path)
    assert "version 1" in table and "version 2" in table and "nDCG" not in table
    for label in ("generator", "tokens/s", "anchor diversity", "distinct-2",
                  "exemplar vocabulary overlap", "mean document words"):
        line = next(line for line in table.splitlines() if label in line)
        assert len(line.split("│")) == 5  # label and one cell per version, between borders


def test_compare_unknown_version(db_path):
    fake_versions(db_path)
    result = CliRunner().invoke(cli, ["compare", "1", "9", "--db", str(db_path)])
    assert result.exit_code == 1 and "no corpus version '9'" in result.output


def tiny_beir(root):
    """Six documents on two topics and a query for each topic."""
    docs = {"d1": "Insulin signalling controls glucose uptake in muscle cells.",
            "d2": "Insulin resistance is the hallmark of type 2 diabetes.",
            "d3": "Glucose transporters move sugar across the cell membrane.",
            "d4": "Vaccines train the immune system to recognise a virus.",
            "d5": "Antibodies bind antigens on the surface of pathogens.",
            "d6": "T cells kill infected cells after antigen presentation."}
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": k, "title": "", "text": v}) + "\n" for k, v in docs.items()))
    (root / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "how does insulin affect glucose"}) + "\n"
        + json.dumps({"_id": "q2", "text": "how do antibodies fight infection"}) + "\n")
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t1\nq2\td5\t1\nq2\td6\t1\n")
    return root


def test_compare_with_retrieval(db_path, tmp_path):
    fake_versions(db_path)
    dataset = tiny_beir(tmp_path / "tiny")
    rows = [json.loads(line) for line in zest(
        "compare", 1, 2, "--dataset", dataset, "--encoder", "hybrid", "--json",
        "--db", db_path).splitlines()]
    stored = Store(db_path).db.execute_returning_dicts(
        "SELECT context, ndcg_at_10, recall_at_100 FROM eval_results ORDER BY id")
    assert [s["context"] for s in stored] == [f"version {v} (scifact, {n} docs)"
                                             for v, n in ((1, 8), (2, 4))]
    for row, result in zip(rows, stored):
        assert row["encoder"] == "hybrid"
        assert row["ndcg_at_10"] == pytest.approx(100 * result["ndcg_at_10"])
        assert row["recall_at_100"] == pytest.approx(100 * result["recall_at_100"])
        assert row["recall_at_100"] == 100  # six documents: every relevant one is retrieved
    table = zest("compare", 1, 2, "--dataset", dataset, "--encoder", "hybrid", "--db", db_path)
    assert "nDCG@10" in table and "Recall@100" in table and "100.00" in table
