"""Exemplar selection: k-center and nearest-to-centroid checked against brute force, and
``zest exemplars pick`` / ``zest run --select`` on real SciFact abstracts with the real
dense encoder."""

import itertools
import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import beir

from zest_core import ZestError
from zest_core.cli import cli
from zest_core.corpus.exemplars import read_exemplars
from zest_core.corpus.selection import choose, farthest_point, nearest_centroid, pick


def unit(rows):
    rows = np.asarray(rows, dtype=float)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_farthest_point_is_greedy_k_center():
    vectors = unit(np.random.default_rng(0).normal(size=(60, 8)))
    chosen = farthest_point(vectors, 6, seed=3)
    distance = 1 - vectors @ vectors.T
    for i in range(1, 6):  # each pick is the point farthest from those before it
        nearest = distance[:, chosen[:i]].min(axis=1)
        assert nearest[chosen[i]] == pytest.approx(nearest.max())
    assert len(set(chosen)) == 6 and farthest_point(vectors, 6, seed=3) == chosen


def test_diverse_covers_clusters_that_random_can_miss():
    rng = np.random.default_rng(1)
    centres = unit(rng.normal(size=(4, 16)))
    vectors = unit(
        np.vstack(
            [c + 0.05 * rng.normal(size=(50 if i == 0 else 3, 16)) for i, c in enumerate(centres)]
        )
    )
    cluster = np.array([0] * 50 + [1] * 3 + [2] * 3 + [3] * 3)
    for seed in range(5):
        assert set(cluster[farthest_point(vectors, 4, seed)]) == {0, 1, 2, 3}


def test_central_is_nearest_to_the_centroid():
    vectors = unit(np.random.default_rng(2).normal(size=(30, 5)))
    centroid = vectors.mean(axis=0)
    best = max(
        itertools.combinations(range(30), 3),
        key=lambda ids: sum(vectors[i] @ centroid for i in ids),
    )
    assert sorted(nearest_centroid(vectors, 3)) == sorted(best)


def test_choose_keeps_a_small_pool_whole_and_picks_from_a_larger_one():
    """zest run, generate and zest experiment choose alike: all when no more than k."""
    docs = [{"title": None, "text": f"document {i}"} for i in range(6)]

    def embed(texts):
        raise AssertionError("a pool of no more than k is not embedded")

    assert choose(docs, 6, 3, "diverse", embed) == docs
    assert choose(docs, 4, 3) == pick(docs, 4, "random", 3)
    with pytest.raises(ZestError, match="--k must be between 1 and"):
        choose(docs, 0)


def test_pick_keeps_pool_order_and_checks_input():
    docs = [{"title": None, "text": f"document {i}"} for i in range(10)]
    picked = pick(docs, 4, "random", seed=5)
    assert picked == sorted(picked, key=docs.index) and picked == pick(docs, 4, "random", 5)
    assert picked != pick(docs, 4, "random", seed=6)
    for args, message in (
        ((docs, 11, "random"), "fewer than --k 11"),
        ((docs, 2, "best"), "unknown selection method 'best'"),
        ((docs, 0, "random"), "--k must be between 1 and"),
    ):
        with pytest.raises(ZestError, match=message):
            pick(*args)


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """40 real SciFact abstracts as a user's folder of documents."""
    corpus = beir("scifact") / "corpus.jsonl"
    path = tmp_path_factory.mktemp("pool") / "pool.jsonl"
    with corpus.open() as f:
        path.write_text("".join(next(f) for _ in range(40)))
    return path


def test_cli_pick_methods_on_real_abstracts(pool, tmp_path):
    from zest_encoders import DenseEncoder

    db = tmp_path / "z.db"
    picked = {}
    for method in ("random", "diverse", "central"):
        out = tmp_path / f"{method}.jsonl"
        result = CliRunner().invoke(
            cli,
            [
                "exemplars",
                "pick",
                str(pool),
                "--k",
                "5",
                "--method",
                method,
                "--seed",
                "1",
                "-o",
                str(out),
                "--db",
                str(db),
            ],
        )
        assert result.exit_code == 0, result.output
        assert f"5 of 40 documents ({method}) written" in result.output
        picked[method] = [d["text"] for d in read_exemplars([str(out)])]
    assert len({tuple(v) for v in picked.values()}) == 3
    docs = read_exemplars([str(pool)])
    vectors = DenseEncoder().embed_documents(
        [f"{d['title']} {d['text']}" if d["title"] else d["text"] for d in docs]
    )
    index = {d["text"]: i for i, d in enumerate(docs)}

    def spread(texts):  # the smallest pairwise cosine distance among the chosen
        ids = [index[t] for t in texts]
        return min(1 - vectors[i] @ vectors[j] for i, j in itertools.combinations(ids, 2))

    assert spread(picked["diverse"]) > spread(picked["central"])
    assert spread(picked["diverse"]) > spread(picked["random"])
    # the pool was encoded once, then taken from the store's cache
    from zest_core.corpus.store import Store

    assert Store(db).db["embedding_cache"].count == 1


def test_zest_run_select_diverse(pool, tmp_path):
    db = tmp_path / "z.db"
    pick_out = tmp_path / "diverse.jsonl"
    CliRunner().invoke(
        cli,
        [
            "exemplars",
            "pick",
            str(pool),
            "--k",
            "3",
            "--method",
            "diverse",
            "--seed",
            "2",
            "-o",
            str(pick_out),
            "--db",
            str(db),
        ],
    )
    result = CliRunner().invoke(
        cli,
        [
            "run",
            "--exemplars",
            str(pool),
            "--k",
            "3",
            "--select",
            "diverse",
            "--seed",
            "2",
            "--generator",
            "fake",
            "--anchors",
            "2",
            "--docs",
            "2",
            "--db",
            str(db),
        ],
    )
    assert result.exit_code == 0, result.output
    from zest_core.corpus.store import Store

    stored = [e["text"] for e in Store(db).exemplars(1)]
    assert stored == [json.loads(line)["text"] for line in pick_out.read_text().splitlines()]
