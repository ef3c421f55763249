"""Correct scoring (identical ids, qrels naming missing documents), per-query scores, the
paired statistics, and ``zest results`` / ``zest results diff`` on a real SciFact slice."""

import json
import random
import shutil

import numpy as np
import pytest
from click.testing import CliRunner
from test_evaluate import FAST, eval_none_and_real, make_beir_slice

from zest_core import ZestError
from zest_core.cli import cli
from zest_core.contexts.beir import load_beir
from zest_core.contexts.scoring import evaluate_contexts, query_scores
from zest_core.experiment.stats import mean_interval, paired_difference, sign_flip_p


@pytest.fixture(scope="module")
def scifact_slice(tmp_path_factory):
    return make_beir_slice(tmp_path_factory.mktemp("beir") / "scifact-slice")


@pytest.fixture(scope="module")
def self_slice(scifact_slice, tmp_path_factory):
    """The slice with query 1 renamed q1 and a corpus document q1 that is the query's own
    text: retrieved first, judged by nobody, as in ArguAna or Quora."""
    root = shutil.copytree(scifact_slice, tmp_path_factory.mktemp("beir") / "self-slice")
    queries = [json.loads(line) for line in (root / "queries.jsonl").open()]
    first = queries[0]["_id"]
    queries[0]["_id"] = "q1"
    (root / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    with (root / "corpus.jsonl").open("a") as corpus:
        corpus.write(json.dumps({"_id": "q1", "title": "", "text": queries[0]["text"]}) + "\n")
    qrels = (root / "qrels" / "test.tsv").read_text().splitlines()
    (root / "qrels" / "test.tsv").write_text(
        "\n".join(
            [qrels[0]]
            + [
                f"q1\t{r.split(chr(9), 1)[1]}" if r.split("\t")[0] == first else r
                for r in qrels[1:]
            ]
        )
        + "\n"
    )
    return root


def test_identical_ids_are_ignored_automatically_and_recorded(store, self_slice):
    notes = []
    (auto,) = evaluate_contexts(store, self_slice, "dense", ["none"], note=notes.append, **FAST)
    (kept,) = evaluate_contexts(
        store, self_slice, "dense", ["none"], ignore_identical_ids=False, **FAST
    )
    assert load_beir(self_slice).shares_ids
    assert any("also corpus documents" in n for n in notes)
    # the query's own text is its nearest document: kept, it pushes the relevant ones down
    assert auto["per_query"]["q1"]["ndcg_at_10"] > kept["per_query"]["q1"]["ndcg_at_10"]
    others = set(auto["per_query"]) - {"q1"}
    assert all(auto["per_query"][q] == kept["per_query"][q] for q in others)
    settings = [json.loads(r["settings"]) for r in store.db["eval_results"].rows]
    assert [s["ignore_identical_ids"] for s in settings] == [True, False]


def test_ordinary_datasets_keep_identical_ids_off(store, scifact_slice):
    notes = []
    evaluate_contexts(store, scifact_slice, "dense", ["none"], note=notes.append, **FAST)
    assert notes == []
    row = next(store.db["eval_results"].rows)
    assert json.loads(row["settings"])["ignore_identical_ids"] is False


def test_qrels_naming_missing_documents_are_dropped_with_a_count(scifact_slice, tmp_path):
    copy = shutil.copytree(scifact_slice, tmp_path / "copy")
    with (copy / "qrels" / "test.tsv").open("a") as qrels:
        qrels.write("1\tno-such-doc\t1\n1\talso-missing\t1\n")
    data = load_beir(copy)
    assert data.dropped_judgements == 2
    assert data.qrels == load_beir(scifact_slice).qrels
    with pytest.raises(ZestError, match="2 corpus id\\(s\\) missing from corpus.jsonl"):
        load_beir(copy, strict=True)
    result = CliRunner().invoke(
        cli,
        [
            "eval",
            "--dataset",
            str(copy),
            "--encoder",
            "dense",
            "-o",
            "max_seq_length=128",
            "--db",
            str(tmp_path / "z.db"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "note: 2 judgement(s) name documents missing from corpus.jsonl" in result.output
    strict = CliRunner().invoke(
        cli, ["eval", "--dataset", str(copy), "--strict", "--db", str(tmp_path / "z.db")]
    )
    assert strict.exit_code == 1 and strict.output.count("Error:") == 1


def test_per_query_scores_are_stored_and_average_to_the_result(store, scifact_slice):
    rows = evaluate_contexts(store, scifact_slice, "hybrid", ["none", "generic"], **FAST)
    for row in rows:
        stored = query_scores(store, row["id"])
        assert stored == row["per_query"] and len(stored) == 20
        for metric in ("ndcg_at_10", "recall_at_100"):  # mteb rounds its means to 5 places
            mean = np.mean([s[metric] for s in stored.values()])
            assert mean == pytest.approx(row[metric], abs=1e-5)
    assert rows[1]["label"].startswith("generic (English word frequencies, 512 docs")
    assert rows[0]["ndcg_at_10"] != rows[1]["ndcg_at_10"]  # uniform IDF vs English IDF


def test_reuse_returns_the_stored_result_without_encoding(store, scifact_slice, monkeypatch):
    from test_evaluate import counting

    from zest_encoders import DenseEncoder

    (first,) = evaluate_contexts(store, scifact_slice, "hybrid", ["real:10"], **FAST)
    queries = counting(monkeypatch, DenseEncoder, "embed_queries")
    (again,) = evaluate_contexts(store, scifact_slice, "hybrid", ["real:10"], reuse=True, **FAST)
    assert queries == [] and again["reused"] and again["id"] == first["id"]
    assert again["per_query"] == first["per_query"]
    (other,) = evaluate_contexts(
        store, scifact_slice, "hybrid", ["real:10"], reuse=True, seed=1, **FAST
    )  # another sample: another context
    assert not other["reused"] and len(queries) == 1


def _direct_bootstrap(a, b, resamples, seed=7):
    """The textbook paired bootstrap, one resample at a time in plain Python."""
    rng = random.Random(seed)
    d = [x - y for x, y in zip(a, b)]
    means = sorted(sum(d[rng.randrange(len(d))] for _ in d) / len(d) for _ in range(resamples))
    return means[int(0.025 * resamples)], means[int(0.975 * resamples) - 1]


def test_paired_interval_matches_a_direct_computation():
    rng = np.random.default_rng(3)
    a = rng.uniform(0, 1, 300)
    b = np.clip(a - 0.03 + rng.normal(0, 0.15, 300), 0, 1)
    interval = paired_difference(a, b)
    low, high = _direct_bootstrap(a, b, 10_000)
    se = np.std(a - b, ddof=1) / np.sqrt(300)
    assert interval.mean == pytest.approx(np.mean(a - b))
    # two independent 10,000-resample bootstraps agree to a small fraction of the SE
    assert interval.low == pytest.approx(low, abs=0.1 * se)
    assert interval.high == pytest.approx(high, abs=0.1 * se)
    assert interval.high - interval.low == pytest.approx(2 * 1.96 * se, rel=0.1)
    assert interval.p_value < 0.05 and not interval.covers_zero
    # same inputs, same interval (fixed seed)
    assert paired_difference(a, b) == interval


def test_seed_rows_are_resampled_and_a_single_seed_is_a_one_row_matrix():
    rng = np.random.default_rng(4)
    a, b = rng.uniform(size=200), rng.uniform(size=200)
    tripled, single = paired_difference(np.vstack([a, a, a]), b), paired_difference(a, b)
    assert [tripled.mean, tripled.low, tripled.high, tripled.p_value] == pytest.approx(
        [single.mean, single.low, single.high, single.p_value], rel=1e-9
    )
    spread = np.vstack([a - 0.1, a, a + 0.1])  # seeds that disagree widen the interval
    wide, narrow = paired_difference(spread, b), paired_difference(a, b)
    assert wide.high - wide.low > narrow.high - narrow.low
    assert mean_interval(a).low < a.mean() < mean_interval(a).high


def test_sign_flip_p_value():
    assert sign_flip_p(np.zeros(50) + 0.1) < 0.001  # all differences one way
    symmetric = np.array([0.2, -0.2] * 25)
    assert sign_flip_p(symmetric) == 1.0
    # exact two-sided p for 10 differences of one sign: 2 / 2**10
    assert sign_flip_p(np.ones(10), resamples=100_000) == pytest.approx(2 / 1024, abs=0.001)


def test_cli_results_list_and_diff(db_path, scifact_slice, tmp_path):
    args = eval_none_and_real(scifact_slice, db_path)
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "nDCG@10 vs first" in result.output and "p=" in result.output
    listed = CliRunner().invoke(cli, ["results", "--db", str(db_path)])
    assert listed.exit_code == 0 and "scifact-slice" in listed.output
    assert listed.output.count(" kept ") == 2  # identical ids: kept (none are shared)
    diff = CliRunner().invoke(cli, ["results", "diff", "2", "1", "--db", str(db_path)])
    assert diff.exit_code == 0, diff.output
    from zest_core.corpus.store import Store

    store = Store(db_path)
    a, b = query_scores(store, 2), query_scores(store, 1)
    expected = paired_difference(
        [a[q]["ndcg_at_10"] for q in sorted(a)], [b[q]["ndcg_at_10"] for q in sorted(a)]
    )
    assert f"nDCG@10: 2 - 1 = {expected.format()} over 20 queries" in diff.output


def test_cli_diff_refuses_different_datasets(db_path, scifact_slice, tmp_path):
    other = make_beir_slice(tmp_path / "other", n_queries=10, seed=1)
    for dataset in (scifact_slice, other):
        CliRunner().invoke(
            cli,
            [
                "eval",
                "--dataset",
                str(dataset),
                "--encoder",
                "dense",
                "-o",
                "max_seq_length=128",
                "--db",
                str(db_path),
            ],
        )
    for args, message in (
        (["1", "2"], "are on different datasets"),
        (["1", "9"], "no evaluation result '9'"),
    ):
        result = CliRunner().invoke(cli, ["results", "diff", *args, "--db", str(db_path)])
        assert result.exit_code == 1 and result.output.count("Error:") == 1
        assert message in result.output
