"""Zero-shot tuning: synthetic queries with lineage, a grid search that finds the weight that
clearly wins on a constructed corpus, eval --tuned, and the bad inputs."""

import json

import pytest
from click.testing import CliRunner

from zest_core import ZestError
from zest_core.adaptation.tuning import clean_query, tune, tuned_groups, write_queries
from zest_core.cli import cli

# Twenty topics, each with a paraphrase that shares no content word with its document.
TOPICS = [
    (
        "Dogs bark loudly when strangers approach the house.",
        "canine animals making noise at unfamiliar visitors",
    ),
    ("Volcanoes erupt molten lava and ash into the sky.", "mountain explosions spewing magma"),
    ("Bees pollinate flowers and produce honey in hives.", "insects making sweet nectar syrup"),
    (
        "Glaciers melt faster as global temperatures rise.",
        "ice sheets shrinking due to climate warming",
    ),
    ("Chess players plan moves several turns ahead.", "board game strategy thinking forward"),
    ("Bread dough rises because yeast ferments sugar.", "baking loaves leavening fungus"),
    (
        "Satellites orbit earth and relay television signals.",
        "spacecraft circling our planet broadcasting",
    ),
    ("Sharks hunt seals near coastal waters.", "predatory fish attacking marine mammals"),
    ("Violins have four strings played with a bow.", "classical music fiddle instrument"),
    ("Tomatoes ripen red in warm summer gardens.", "vegetables growing during hot weather"),
    (
        "Marathon runners train for months to build endurance.",
        "long distance racing athletes stamina practice",
    ),
    (
        "Earthquakes shake buildings when tectonic plates slip.",
        "seismic tremors ground movement destruction",
    ),
    ("Coffee contains caffeine that keeps people awake.", "espresso stimulant alertness"),
    ("Pianos produce sound when hammers strike strings.", "keyboard instrument mechanism"),
    ("Penguins live in Antarctica and cannot fly.", "flightless birds of the south pole"),
    ("Rainforests host millions of insect and plant species.", "tropical jungle biodiversity"),
    (
        "Vaccines train the immune system to fight viruses.",
        "immunization protects against infections",
    ),
    ("Submarines dive deep beneath the ocean surface.", "underwater vessels navigating sea depths"),
    (
        "Telescopes let astronomers observe distant galaxies.",
        "stargazing instruments viewing faraway stars",
    ),
    (
        "Wolves roam together in packs across snowy forests.",
        "canines cooperating as predators in winter woods",
    ),
]


def code(i: int) -> str:
    return f"qxv{100 + i % len(TOPICS)}"  # a rare term only BM25 tells apart


def make_version(store, queries=None, n=20) -> int:
    """A complete version of ``n`` constructed documents, with the given stored queries."""
    vid = store.create_version("constructed", kind="run", config={}, target_docs=n)
    ids = [store.add_document(vid, i, f"{TOPICS[i][0]} Record {code(i)}.") for i in range(n)]
    store.finish(vid, "complete", 0.0)
    for i, doc_id in enumerate(ids):
        text = queries(i) if queries else ""
        with store.db.conn:
            store.db["synthetic_queries"].insert({"document_id": doc_id, "text": text})
    return vid


def test_dense_wins_when_queries_paraphrase_and_their_rare_term_points_elsewhere(store):
    vid = make_version(store, lambda i: f"{TOPICS[i][1]} {code(i + 1)}")
    result = tune(store, vid)
    grid = json.loads(store.db.execute("SELECT grid FROM tunings").fetchone()[0])
    assert len(grid) == 11 * 5 * 4
    assert result["settings"]["weight"] >= 0.7
    assert result["score"] >= 0.9
    assert max(p["score"] for p in grid if p["weight"] == 0) < 0.3  # BM25 alone is misled


def test_bm25_wins_when_the_rare_term_is_right_and_the_words_point_elsewhere(store):
    vid = make_version(store, lambda i: f"{code(i)} {TOPICS[(i + 1) % len(TOPICS)][1]}")
    result = tune(store, vid, metric="ndcg@10")
    grid = json.loads(store.db.execute("SELECT grid FROM tunings").fetchone()[0])
    # every weight up to about 0.4 finds all documents; of equals, the nearest to 0.7 is kept
    assert result["settings"]["weight"] <= 0.5
    assert result["score"] >= 0.9
    assert max(p["score"] for p in grid if p["weight"] == 1) < 0.5  # dense alone is misled
    assert result["default_score"] < result["score"]
    stored = store.db.execute("SELECT settings, metric, queries FROM tunings").fetchone()
    assert json.loads(stored[0]) == result["settings"] and stored[1:] == ("ndcg@10", 20)


def test_eval_tuned_applies_the_versions_tuning_and_leaves_none_alone(store):
    vid = make_version(store, lambda i: f"{code(i)} {TOPICS[(i + 1) % len(TOPICS)][1]}")
    with pytest.raises(ZestError, match="no hybrid tuning"):
        tuned_groups(store, [str(vid)], "hybrid", None, {})
    chosen = tune(store, vid)["settings"]
    groups = tuned_groups(store, ["none", str(vid)], "hybrid", None, {"batch_size": "8"})
    assert groups == [({"batch_size": "8"}, ["none"]), ({"batch_size": "8", **chosen}, [str(vid)])]
    # a tuning made under other settings (here the prior) does not apply
    with pytest.raises(ZestError, match="no hybrid tuning"):
        tuned_groups(store, [str(vid)], "hybrid", None, {"prior": "wordfreq"})


def test_cli_tune_prints_and_stores_the_choice(db_path, store):
    vid = make_version(store, lambda i: f"{TOPICS[i][1]} {code(i + 1)}")
    result = CliRunner().invoke(cli, ["tune", str(vid), "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    assert "stored as tuning 1" in result.output and "--tuned" in result.output
    bad = CliRunner().invoke(cli, ["tune", str(vid), "-o", "weight=0.5", "--db", str(db_path)])
    assert bad.exit_code == 1 and "chooses these itself" in bad.output


def test_too_few_documents_and_no_usable_query_are_clear_errors(store):
    small = make_version(store, lambda i: TOPICS[i][1], n=15)
    with pytest.raises(ZestError, match="15 documents; tuning needs at least 16"):
        tune(store, small)
    empty = make_version(store, None)
    with pytest.raises(ZestError, match="no synthetic query"):
        tune(store, empty)


def test_clean_query():
    assert clean_query(' "What makes bread rise?"\nmore') == "What makes bread rise?"
    assert clean_query("Question: Does yeast ferment sugar?") == "Does yeast ferment sugar?"


def test_queries_are_written_once_per_document_with_lineage(store, exemplars):
    from zest_core.corpus import pipeline

    vid = pipeline.start(
        store, exemplars=exemplars, corpus="q", generator="fake", n_anchors=2, n_docs=4, seed=1
    )
    from fake_plugin import FakeGenerator

    assert write_queries(store, vid, FakeGenerator(), seed=3) == 4
    rows = store.db.execute_returning_dicts(
        """SELECT q.*, d.version_id FROM synthetic_queries q
           JOIN documents d ON d.id = q.document_id ORDER BY d.ordinal"""
    )
    assert [r["version_id"] for r in rows] == [vid] * 4
    assert all(
        r["text"] and r["generator"] == "fake" and len(r["template_hash"]) == 64 for r in rows
    )
    assert write_queries(store, vid, FakeGenerator(), seed=3) == 0  # nothing left to write
    # a filtered child reuses its parent's queries instead of sampling them again
    from zest_core.corpus.filtering import apply_filters

    child = apply_filters(store, vid, [("exact-dedup", {})])
    gen = FakeGenerator()
    assert write_queries(store, child, gen, seed=3) == 0 and gen.calls == 0
    texts = store.db.execute(
        """SELECT d.version_id, q.text FROM synthetic_queries q JOIN documents d
           ON d.id = q.document_id ORDER BY d.ordinal, d.version_id"""
    ).fetchall()
    assert [t for v, t in texts if v == child] == [t for v, t in texts if v == vid]


@pytest.mark.model
def test_real_model_writes_queries(store, exemplars):
    from zest_core.corpus import pipeline
    from zest_llama_cpp import LlamaCppGenerator

    vid = pipeline.start(
        store, exemplars=exemplars, corpus="q", generator="fake", n_anchors=1, n_docs=3, seed=1
    )
    docs = [d["id"] for d in store.documents(vid)]
    gen = LlamaCppGenerator(batch_size=3, workers=1)
    try:
        assert write_queries(store, vid, gen) == 3
    finally:
        gen.close()
    rows = store.db.execute_returning_dicts("SELECT * FROM synthetic_queries")
    assert sorted(r["document_id"] for r in rows) == sorted(docs)
    assert sum(bool(r["text"]) for r in rows) >= 2
    assert all(r["model"] == "gemma-3-270m-q4_k_m.gguf" and r["completion_tokens"] for r in rows)
