import sqlite3
from collections import Counter

import pytest

from zest_core import ZestError
from zest_core.corpus import pipeline
from zest_core.plugin.strategy import plan_anchor
from zest_core.text import jaccard


def run(store, exemplars, **kw):
    args = dict(exemplars=exemplars, corpus="sci", generator="fake", n_anchors=4, n_docs=10, seed=7)
    args.update(kw)
    return pipeline.start(store, **args)


@pytest.mark.parametrize("n_docs,n_anchors", [(10, 4), (8, 4), (7, 7), (512, 20), (5, 1)])
def test_plan_spreads_documents_evenly_over_anchors(n_docs, n_anchors):
    counts = Counter(plan_anchor(j, n_docs, n_anchors) for j in range(n_docs))
    assert sorted(counts) == list(range(n_anchors))
    assert max(counts.values()) - min(counts.values()) <= 1


def opening(exemplar: dict) -> str:
    """The first words of an exemplar's text: in every prompt, however it is truncated."""
    return " ".join(exemplar["text"].split()[:12])


def test_hierarchical_run_stores_a_complete_version(store, exemplars, fake_requests):
    from zest_anchors import Hierarchical

    vid = run(store, exemplars)
    version = store.version(vid)
    assert version["status"] == "complete" and version["kind"] == "run"
    docs = store.documents(vid)
    assert [d["ordinal"] for d in docs] == list(range(10))
    anchors = store.anchors(vid)
    assert len(anchors) == 4
    texts = [a["text"] for a in anchors]
    assert all(jaccard(a, b) <= 0.5 for i, a in enumerate(texts) for b in texts[i + 1 :])
    assert all("\n" not in t for t in texts)
    per_anchor = Counter(d["anchor_id"] for d in docs)
    assert sorted(per_anchor.values()) == [2, 2, 3, 3]
    # every prompt carried all the exemplars; each document prompt its own anchor, after them
    anchor_requests = [r for r in fake_requests if r.prompt.endswith("Title:")]
    doc_requests = {r.key: r for r in fake_requests if not r.prompt.endswith("Title:")}
    assert len(anchor_requests) == 4 and sorted(doc_requests) == list(range(10))
    for request in fake_requests:
        for exemplar in exemplars:
            assert exemplar["title"] in request.prompt and opening(exemplar) in request.prompt
    template = Hierarchical().templates["document"]
    anchor_text = {a["id"]: a["text"] for a in anchors}
    for doc in docs:
        request = doc_requests[doc["ordinal"]]
        after_exemplars = request.prompt.split(opening(exemplars[-1]))[-1]
        assert [a for a in texts if a in request.prompt] == [anchor_text[doc["anchor_id"]]]
        assert anchor_text[doc["anchor_id"]] in after_exemplars
        assert request.seed == doc["seed"]
        assert request.max_tokens == template["max_tokens"]
        assert request.stop == tuple(template["stop"])
    # provenance and token counts are recorded
    assert version["provenance"]["generator"] == "fake"
    assert set(version["prompt_hashes"]) == {"anchor", "document"}
    totals = store.totals(vid)
    assert totals["completion_tokens"] == sum(d["token_count"] for d in docs) + sum(
        a["completion_tokens"] for a in anchors
    )
    assert version["provenance"]["usage"] == totals
    assert len(store.exemplars(vid)) == 5


def test_same_seed_same_corpus_other_seed_other_corpus(store, exemplars):
    a, b, c = (run(store, exemplars, seed=s) for s in (1, 1, 2))
    text = lambda v: [d["text"] for d in store.documents(v)]  # noqa: E731
    assert text(a) == text(b)
    assert text(a) != text(c)


def test_direct_strategy_has_no_anchors(store, exemplars, fake_requests):
    vid = run(store, exemplars, strategy="direct", n_anchors=0)
    assert sorted(r.key for r in fake_requests) == list(range(10))  # documents only
    assert all(opening(e) in r.prompt for r in fake_requests for e in exemplars)
    assert store.anchors(vid) == []
    assert len(store.documents(vid)) == 10
    assert all(d["anchor_id"] is None for d in store.documents(vid))


def test_failure_leaves_a_resumable_partial_version(store, exemplars):
    with pytest.raises(ZestError, match="failed as asked"):
        run(store, exemplars, options={"fail_after": 7})  # 4 anchors + 3 documents
    vid = store.versions()[-1]["id"]
    version = store.version(vid)
    assert version["status"] == "failed" and "failed as asked" in version["error"]
    assert len(store.documents(vid)) == 3
    anchors_before = store.anchors(vid)
    store.update_version(vid, config={**version["config"], "options": {}})
    pipeline.resume(store, vid)
    assert store.version(vid)["status"] == "complete"
    assert store.anchors(vid) == anchors_before
    reference = run(store, exemplars)
    assert [d["text"] for d in store.documents(vid)] == [
        d["text"] for d in store.documents(reference)
    ]


def test_resume_refuses_a_complete_version(store, exemplars):
    vid = run(store, exemplars)
    with pytest.raises(ZestError, match="already complete"):
        pipeline.resume(store, vid)


def test_anchor_retry_budget_is_bounded(store, exemplars):
    with pytest.raises(ZestError, match="only 1 usable anchors of 4 in 24 samples"):
        run(store, exemplars, options={"constant": True})
    version = store.version(store.versions()[-1]["id"])
    assert version["status"] == "failed"
    assert store.anchors(version["id"]) == []


def test_empty_documents_are_retried_then_fail(store, exemplars):
    with pytest.raises(ZestError, match="empty text for 10 documents"):
        run(store, exemplars, options={"empty": True})
    assert store.version(store.versions()[-1]["id"])["status"] == "failed"


@pytest.mark.parametrize(
    "n_anchors,n_docs,message",
    [
        (5, 4, "--anchors must be between 1 and --docs"),
        (0, 4, "--anchors must be between 1 and --docs"),
        (2, 0, "--docs must be between 1 and"),
    ],
)
def test_bad_sizes_create_no_version(store, exemplars, n_anchors, n_docs, message):
    with pytest.raises(ZestError, match=message):
        run(store, exemplars, n_anchors=n_anchors, n_docs=n_docs)
    assert store.versions() == []


def test_complete_versions_are_immutable(store, exemplars):
    vid = run(store, exemplars)
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        store.add_document(vid, 99, "late text")
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        store.db.execute("UPDATE documents SET text = 'x' WHERE version_id = ?", [vid])
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        store.update_version(vid, status="running")


def test_top_up_refills_a_filtered_version(store, exemplars):
    parent = run(store, exemplars)
    docs = store.documents(parent)
    keep = [d["id"] for d in docs if d["ordinal"] % 3]  # drop ordinals 0, 3, 6, 9
    filtered = store.create_version(
        "sci", kind="filter", parent_id=parent, config={"filters": []}, target_docs=10
    )
    store.copy_into(parent, filtered, keep=keep)
    store.add_drops(
        filtered,
        [
            {"document_id": d["id"], "ordinal": d["ordinal"], "filter": "t", "reason": "test"}
            for d in docs
            if d["id"] not in keep
        ],
    )
    store.finish(filtered, "complete", 0.0)
    child = pipeline.top_up(store, filtered)
    version = store.version(child)
    assert version["status"] == "complete" and version["parent_id"] == filtered
    assert version["kind"] == "top-up" and version["config"]["round"] == 1
    new = {d["ordinal"]: d for d in store.documents(child)}
    assert sorted(new) == list(range(10))
    old = {d["ordinal"]: d for d in docs}
    for j in range(10):
        same = new[j]["text"] == old[j]["text"]
        assert same == bool(j % 3), j  # kept documents are copied, dropped ones replaced
        assert new[j]["anchor"] == old[j]["anchor"]
    with pytest.raises(ZestError, match="already has 10 of 10"):
        pipeline.top_up(store, child)


def test_cut_to_sentence_keeps_documents_up_to_their_last_full_sentence(store, exemplars, tmp_path):
    """A document that stops mid-sentence is cut back to its last full one when the
    templates ask for it, and then passes the quality filter that drops it otherwise."""
    from zest_anchors import Hierarchical
    from zest_core.corpus.filtering import apply_filters

    source = Hierarchical.default_templates.read_text(encoding="utf-8")
    templates = tmp_path / "cut.toml"
    templates.write_text(source.replace("[document]\n", "[document]\ncut_to_sentence = true\n"))
    kept = {}
    for name, path in (("as written", None), ("cut", str(templates))):
        vid = run(store, exemplars, options={"unfinished": True}, templates=path)
        docs = store.documents(vid)
        child = apply_filters(store, vid, [("quality", {})])
        kept[name] = len(store.documents(child))
        if path is None:
            assert all(d["text"].split()[-4] == "The" for d in docs)
            assert {d["finish_reason"] for d in docs} == {"stop"}
        else:
            assert all(d["text"].endswith(".") and " The " not in d["text"] for d in docs)
            assert {d["finish_reason"] for d in docs} == {"cut"}
    assert kept == {"as written": 0, "cut": 10}


def test_cut_to_sentence_must_be_a_boolean(tmp_path):
    from zest_anchors import Hierarchical

    source = Hierarchical.default_templates.read_text(encoding="utf-8")
    templates = tmp_path / "bad.toml"
    templates.write_text(source.replace("[document]\n", '[document]\ncut_to_sentence = "yes"\n'))
    with pytest.raises(ZestError, match="cut_to_sentence must be true or false"):
        Hierarchical(templates=str(templates))
