"""zest corpora fidelity: the numbers against a direct computation, the command, bad input."""

import json
import math

import pytest
from click.testing import CliRunner
from conftest import beir

from zest_core.cli import cli
from zest_core.evaluation.fidelity import fidelity

REAL = ["alpha beta gamma", "alpha beta delta", "alpha epsilon", "alpha beta zeta zeta"]
SYNTHETIC = ["alpha beta gamma", "beta gamma", "gamma omega"]


def test_numbers_match_a_direct_computation():
    report = fidelity(SYNTHETIC, REAL, anchors=["x y", "x z"], top=5)
    # Jensen-Shannon (base 2) of the word distributions, written out
    real = {"alpha": 4, "beta": 3, "gamma": 1, "delta": 1, "epsilon": 1, "zeta": 2}
    syn = {"alpha": 1, "beta": 2, "gamma": 3, "omega": 1}
    vocabulary = set(real) | set(syn)
    p = {w: syn.get(w, 0) / 7 for w in vocabulary}
    q = {w: real.get(w, 0) / 12 for w in vocabulary}
    m = {w: (p[w] + q[w]) / 2 for w in vocabulary}

    def kl(a):
        return sum(a[w] * math.log2(a[w] / m[w]) for w in vocabulary if a[w])

    assert report["js_divergence"] == pytest.approx((kl(p) + kl(q)) / 2)
    # count x ln(N/df) in the real sample: zeta 2 ln4; delta, epsilon, gamma ln4 (alphabetical);
    # beta 3 ln(4/3); alpha 0. Of the top 5 the synthetic corpus uses gamma and beta.
    assert report["informative_terms"] == 5
    assert report["informative_coverage"] == pytest.approx(2 / 5)
    # shared alpha, beta, gamma: real IDF 0 < ln(4/3) < ln 4, synthetic ln 3 > ln 1.5 > 0
    assert report["shared_terms"] == 3
    assert report["idf_spearman"] == pytest.approx(-1.0)
    # synthetic pairs: 2/3, 1/4, 1/3 word-set Jaccard
    mean_jaccard = (2 / 3 + 1 / 4 + 1 / 3) / 3
    assert report["document_diversity"]["synthetic"] == pytest.approx(1 - mean_jaccard)
    assert report["distinct_2"]["synthetic"] == pytest.approx(3 / 4)
    assert report["anchor_diversity"] == pytest.approx(1 - 1 / 3)
    assert report["documents"] == {"synthetic": 3, "real": 4}


@pytest.fixture
def version(store, exemplars):
    from zest_core.corpus import pipeline

    return pipeline.start(
        store, exemplars=exemplars, corpus="fid", generator="fake", n_anchors=2, n_docs=12, seed=2
    )


def test_command_against_a_beir_directory_with_plot(db_path, version, tmp_path):
    scifact = beir("scifact")
    plot = tmp_path / "fidelity.png"
    result = CliRunner().invoke(
        cli,
        [
            "corpora",
            "fidelity",
            str(version),
            "--against",
            str(scifact),
            "--plot",
            str(plot),
            "--json",
            "--db",
            str(db_path),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["documents"] == {"synthetic": 12, "real": 12}  # sampled to the same size
    assert 0 < report["js_divergence"] < 1 and report["informative_terms"] == 1000
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = CliRunner().invoke(
        cli,
        [
            "corpora",
            "fidelity",
            str(version),
            "--against",
            str(scifact),
            "--sample",
            "40",
            "--db",
            str(db_path),
        ],
    )
    assert table.exit_code == 0 and "Jensen-Shannon" in table.output and "40" in table.output


@pytest.mark.parametrize(
    "name,content,message",
    [
        ("notes.txt", "just some text", "not a corpus"),
        ("image.png", b"\x89PNG\r\n\x1a\n\x00\x00", "not a corpus"),
        ("one.jsonl", '{"text": "only one document"}\n', "at least 2 documents"),
        ("bad.jsonl", '{"title": "no text"}\n', 'needs a non-empty "text"'),
    ],
)
def test_against_something_that_is_not_a_corpus_is_one_clear_error(
    db_path, version, tmp_path, name, content, message
):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    result = CliRunner().invoke(
        cli, ["corpora", "fidelity", str(version), "--against", str(path), "--db", str(db_path)]
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0]
