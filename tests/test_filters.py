"""Filters over a real SQLite store: planted bad documents among real SciFact abstracts."""

import json
import re
import sqlite3

import numpy as np
import pytest
from conftest import beir
from datasketch import MinHashLSH

from zest_core.corpus.filtering import apply_filters, resolve_params
from zest_core.corpus.store import Store
from zest_core.errors import ZestError
from zest_core.text import words
from zest_dedup.minhash import (
    jaccard,
    keep_first,
    lsh_params,
    near_duplicates,
    shingle,
    word_hashes,
)


@pytest.fixture(scope="module")
def scifact():
    with (beir("scifact") / "corpus.jsonl").open() as f:
        return [json.loads(line)["text"] for _, line in zip(range(400), f)]


def mutate(text: str, every: int) -> str:
    """Replace every ``every``-th word: a near-duplicate of the original."""
    words = text.split()
    return " ".join("variant" if i % every == every - 1 else w for i, w in enumerate(words))


def planted(scifact, exemplars):
    """Real abstracts (kept) and, after them, one bad document per failure mode."""
    good = scifact[:40]
    echo_span = " ".join(exemplars[2]["text"].split()[10:30])
    half = scifact[120].split()
    bad = {
        "exact-duplicate": "  " + good[3].upper().replace(". ", ".   "),
        "near-duplicate": mutate(good[5], 40),
        "exemplar-echo": scifact[110].replace(". ", f". {echo_span} ", 1),
        "truncated": " ".join(half[: len(half) // 2]).rstrip(".,;"),
        "repetitive": " ".join([scifact[130].split(". ")[0] + "."] * 6),
        "non-alphabetic": "Table 2. "
        + " ".join(f"{x * 1.37:.2f}% (n={x})" for x in range(60))
        + " in all.",
        "too-short": "Insulin signalling was measured in mice.",
    }
    return good, bad


def make_version(store: Store, texts, exemplars, status="complete", finish=None) -> int:
    version = store.create_version(
        "planted", kind="run", config={"n_docs": len(texts)}, target_docs=len(texts)
    )
    store.add_exemplars(version, exemplars)
    for ordinal, text in enumerate(texts):
        store.add_document(version, ordinal, text, finish_reason=(finish or {}).get(ordinal))
    if status:
        store.finish(version, status, 0.0)
    return version


def drops_of(store: Store, version: int) -> dict[int, tuple[str, str]]:
    return {
        row["ordinal"]: (row["filter"], row["reason"])
        for row in store.db["drops"].rows_where("version_id = ?", [version])
    }


FILTER_OF = {"exact-duplicate": "exact-dedup", "near-duplicate": "near-dedup"}


def test_planted_documents_dropped_for_their_own_reason(store, scifact, exemplars):
    good, bad = planted(scifact, exemplars)
    limit_hit = len(good) + len(bad)  # a full abstract whose generation hit max_tokens
    texts = good + list(bad.values()) + [scifact[140]]
    parent = make_version(store, texts, exemplars, finish={limit_hit: "length"})
    child = apply_filters(store, parent, [("exact-dedup", {}), ("near-dedup", {}), ("quality", {})])

    expected = {
        len(good) + i: (FILTER_OF.get(reason, "quality"), reason) for i, reason in enumerate(bad)
    }
    expected[limit_hit] = ("quality", "truncated")
    assert drops_of(store, child) == expected
    assert [d["text"] for d in store.documents(child)] == good
    version = store.version(child)
    assert version["status"] == "complete" and version["parent_id"] == parent
    assert version["kind"] == "filter" and version["target_docs"] == len(texts)
    assert [f["name"] for f in version["config"]["filters"]] == [
        "exact-dedup",
        "near-dedup",
        "quality",
    ]
    assert version["config"]["filters"][1]["settings"]["threshold"] == 0.8
    assert len(store.exemplars(child)) == len(exemplars)
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        store.add_document(child, 999, "late addition")


def test_filters_compose_in_order(store, scifact, exemplars):
    """Without exact-dedup first, near-dedup catches the exact copy (Jaccard 1.00)."""
    good, bad = planted(scifact, exemplars)
    parent = make_version(store, good + [bad["exact-duplicate"]], exemplars)
    child = apply_filters(store, parent, [("near-dedup", {})])
    assert drops_of(store, child) == {len(good): ("near-dedup", "near-duplicate")}
    detail = store.db.execute("SELECT detail FROM drops WHERE version_id = ?", [child]).fetchone()
    assert detail[0] == "Jaccard 1.00 with document 3"


def test_real_abstracts_pass_every_filter(store, scifact, exemplars):
    """Every real abstract that ends a sentence is kept; an exemplar among them is an echo of
    itself, and a few SciFact abstracts really are cut off ('... two …', no full stop)."""
    parent = make_version(store, scifact[:300], exemplars)
    child = apply_filters(store, parent, [("exact-dedup", {}), ("near-dedup", {}), ("quality", {})])
    drops = drops_of(store, child)
    exemplar_texts = {e["text"] for e in exemplars}
    complete = {
        i
        for i, text in enumerate(scifact[:300])
        if text.rstrip().endswith(".") and text not in exemplar_texts
    }
    assert not complete & set(drops)
    assert (
        {i for i, (_, reason) in drops.items() if reason == "exemplar-echo"}
        == {i for i, text in enumerate(scifact[:300]) if text in exemplar_texts}
        != set()
    )
    assert {reason for _, reason in drops.values()} == {"exemplar-echo", "truncated"}
    assert len(drops) <= 6


def test_settings_change_what_is_dropped(store, scifact, exemplars):
    looser = mutate(scifact[0], 6)  # every 6th word replaced: Jaccard well below 0.8
    sh = shingle([scifact[0], looser], 3)
    similarity = jaccard(sh, np.array([[0, 1]]))[0]
    assert 0.3 < similarity < 0.8
    parent = make_version(store, [scifact[0], looser], exemplars)
    assert drops_of(store, apply_filters(store, parent, [("near-dedup", {})])) == {}
    child = apply_filters(store, parent, [("near-dedup", {"threshold": str(similarity - 0.05)})])
    assert drops_of(store, child) == {1: ("near-dedup", "near-duplicate")}
    child = apply_filters(store, parent, [("quality", {"min_words": "1000"})])
    assert set(drops_of(store, child).values()) == {("quality", "too-short")}


def test_near_duplicates_match_brute_force_jaccard(scifact):
    """LSH finds every pair well above the threshold; nothing below it is dropped."""
    texts = scifact[:60] + [mutate(t, 15 + i) for i, t in enumerate(scifact[:30])]
    sh = shingle(texts, 3)
    all_pairs = np.array([(i, j) for i in range(len(texts)) for j in range(i + 1, len(texts))])
    exact = jaccard(sh, all_pairs)
    found = near_duplicates(texts, threshold=0.8)
    truth = {tuple(p): s for p, s in zip(all_pairs.tolist(), exact)}
    assert all(truth[(p.kept, p.later)] == pytest.approx(p.similarity) for p in found)
    assert all(p.similarity >= 0.8 for p in found)
    assert {p.later for p in found} == {j for (i, j), s in truth.items() if s >= 0.8}
    planted = [truth[(i, 60 + i)] for i in range(30)]
    assert min(planted) < 0.8 <= max(planted)  # copies on both sides of the threshold
    assert len(found) >= 10


def test_word_hashes_split_words_like_regex_and_ignore_batches(scifact):
    texts = scifact[:50] + ["", "Protein-kinase C, PROTEIN kinase c!", "x" * 300 + " " + "x" * 301]
    hashes, counts = word_hashes(texts)
    assert counts.tolist()[-3:] == [0, 6, 2]
    assert all(n == len(words(t)) for n, t in zip(counts, texts) if t.isascii())
    again, _ = word_hashes(texts, batch=7)
    assert np.array_equal(hashes, again)
    end = counts[:-1].sum()
    case = hashes[end - 6 : end].tolist()  # protein kinase c protein kinase c
    assert case[:3] == case[3:] and len(set(case)) == 3
    assert hashes[-2] != hashes[-1]  # long words differ beyond the hashed bytes


def test_kept_documents_anchor_near_duplicates():
    """B copies A and C copies B but not A: B goes, C stays (it copies nothing kept)."""
    pairs = np.array([[0, 1], [1, 2]])
    assert keep_first(pairs, np.array([0.9, 0.9]), 0.8) == [(0, 1, 0.9)]
    assert keep_first(pairs, np.array([0.5, 0.9]), 0.8) == [(1, 2, 0.9)]


def test_lsh_bands_match_datasketch():
    for threshold, weight in ((0.8, 0.5), (0.8, 0.9), (0.6, 0.9)):
        lsh = MinHashLSH(threshold=threshold, num_perm=128, weights=(1 - weight, weight))
        assert lsh_params(threshold, 128, weight) == (lsh.b, lsh.r)


def test_short_and_empty_documents(store, exemplars):
    parent = make_version(store, ["", "a b", "A, b!", "   "], exemplars)
    child = apply_filters(store, parent, [("exact-dedup", {}), ("near-dedup", {})])
    assert drops_of(store, child) == {
        2: ("exact-dedup", "exact-duplicate"),
        3: ("exact-dedup", "exact-duplicate"),
    }


@pytest.mark.parametrize(
    "specs,message",
    [
        ([("nope", {})], "unknown filter 'nope' (available: "),
        ([], "no filter given"),
        ([("near-dedup", {"threshold": "high"})], "threshold for 'near-dedup' must be a number"),
        (
            [("near-dedup", {"threshold": "1.5"})],
            "option threshold for 'near-dedup' must be between 0.01 and 1 (got '1.5')",
        ),
        ([("quality", {"colour": "red"})], "unknown option colour for 'quality'"),
    ],
)
def test_bad_filters_create_nothing(store, exemplars, specs, message):
    parent = make_version(store, ["Insulin signalling was measured in mice."], exemplars)
    with pytest.raises(ZestError, match=re.escape(message)):
        apply_filters(store, parent, specs)
    assert [v["id"] for v in store.versions()] == [parent]


def test_incomplete_parent_is_refused(store, exemplars):
    parent = make_version(store, ["Insulin signalling was measured."], exemplars, status=None)
    with pytest.raises(ZestError, match=f"version {parent} is running, not complete"):
        apply_filters(store, parent, [("quality", {})])
    assert len(store.versions()) == 1


def test_failure_while_writing_leaves_no_child(store, scifact, exemplars, monkeypatch):
    parent = make_version(store, scifact[:5] + [scifact[0]], exemplars)

    def broken_finish(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, "finish", broken_finish)
    with pytest.raises(sqlite3.OperationalError):
        apply_filters(store, parent, [("exact-dedup", {})])
    assert [v["id"] for v in store.versions()] == [parent]
    for table in ("documents", "exemplars", "drops"):
        assert (
            store.db.execute(
                f"SELECT count(*) FROM {table} WHERE version_id != ?", [parent]
            ).fetchone()[0]
            == 0
        )


@pytest.mark.parametrize(
    "names,params,expected",
    [
        (
            ["near-dedup", "quality"],
            {"threshold": "0.9", "quality.ngram": "4"},
            [("near-dedup", {"threshold": "0.9"}), ("quality", {"ngram": "4"})],
        ),
        (["quality"], {}, [("quality", {})]),
    ],
)
def test_params_are_assigned_to_their_filter(names, params, expected):
    assert resolve_params(names, params) == expected


@pytest.mark.parametrize(
    "names,params,message",
    [
        (["near-dedup"], {"min_words": "3"}, "option min_words is not an option of near-dedup"),
        (["near-dedup"], {"quality.min_words": "3"}, "names filter 'quality', which is not given"),
    ],
)
def test_bad_params(names, params, message):
    with pytest.raises(ZestError, match=re.escape(message)):
        resolve_params(names, params)


@pytest.mark.slow
def test_embedding_dedup_catches_paraphrases_near_dedup_misses(store, scifact, exemplars):
    pytest.importorskip("sentence_transformers")
    source = next(t for t in scifact[:40] if len(t.split()) < 150)
    paraphrase = source.replace("the ", "a ").replace(" of ", " for ").replace(" and ", " & ")
    assert jaccard(shingle([source, paraphrase], 3), np.array([[0, 1]]))[0] < 0.8
    parent = make_version(store, scifact[:40] + [paraphrase], exemplars)
    assert drops_of(store, apply_filters(store, parent, [("near-dedup", {})])) == {}
    child = apply_filters(store, parent, [("embedding-dedup", {})])
    assert drops_of(store, child) == {40: ("embedding-dedup", "embedding-duplicate")}
    detail = store.db.execute("SELECT detail FROM drops WHERE version_id = ?", [child]).fetchone()
    assert detail[0].startswith("cosine 0.9") and detail[0].endswith(
        f"with document {scifact.index(source)}"
    )
