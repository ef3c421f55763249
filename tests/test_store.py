"""The store's transactions, migrations and concurrency on a real SQLite file."""

import json
import sqlite3
import subprocess
import sys

import pytest
import sqlite_utils
from conftest import ROOT, SCIFACT_EXEMPLARS

from zest_core.corpus import migrations
from zest_core.corpus.migrations import MIGRATIONS
from zest_core.corpus.runconfig import pinned_options
from zest_core.corpus.store import Store
from zest_core.errors import ZestError


def _count(path, sql, *args):
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, args).fetchone()[0]


def test_a_transaction_is_all_or_nothing(store, db_path):
    vid = store.create_version("c", kind="run", config={})
    with pytest.raises(RuntimeError), store.transaction():
        store.add_anchors(vid, [{"text": f"a{i}"} for i in range(150)])  # > 1 insert batch
        for j in range(150):
            store.add_document(vid, j, f"doc {j}")
        raise RuntimeError("killed half-way")
    assert _count(db_path, "SELECT count(*) FROM documents") == 0
    assert _count(db_path, "SELECT count(*) FROM anchors") == 0
    with store.transaction():
        store.add_document(vid, 0, "kept")
    assert _count(db_path, "SELECT count(*) FROM documents") == 1


def test_copy_into_is_one_commit(store, db_path):
    """Traced on the connection: the 200-document copy is exactly one transaction."""
    parent = store.create_version("c", kind="run", config={})
    for j in range(200):
        store.add_document(parent, j, f"doc {j}")
    child = store.create_version("c", kind="filter", config={}, parent_id=parent)
    commits = []
    store.db.conn.set_trace_callback(
        lambda sql: (
            commits.append(sql) if sql.strip().upper().startswith(("COMMIT", "BEGIN")) else None
        )
    )
    store.copy_into(parent, child)
    store.db.conn.set_trace_callback(None)
    assert commits == ["BEGIN IMMEDIATE", "COMMIT"]
    assert _count(db_path, "SELECT count(*) FROM documents WHERE version_id = ?", child) == 200


OPEN = (
    "import sys; sys.path[:0] = {paths!r};"
    " from zest_core.corpus.store import Store; Store(sys.argv[1])"
)


def test_four_processes_open_a_new_file_at_once(tmp_path):
    path = tmp_path / "new.db"
    code = OPEN.format(paths=[str(ROOT), str(ROOT / "plugins"), *sys.path])
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(path)], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, errors
    assert _count(path, "SELECT count(*) FROM _zest_migrations") == len(MIGRATIONS)


def test_interrupted_first_open_leaves_a_usable_file(tmp_path, monkeypatch):
    """A migration that fails half-way rolls back every migration of that open."""
    import zest_core.corpus.migrations as migrations

    def boom(db):
        db["half"].create({"id": int}, pk="id")
        raise KeyboardInterrupt

    monkeypatch.setattr(migrations, "MIGRATIONS", [*MIGRATIONS[:2], boom, *MIGRATIONS[2:]])
    path = tmp_path / "z.db"
    with pytest.raises(KeyboardInterrupt):
        Store(path)
    tables = {
        r[0]
        for r in sqlite3.connect(path).execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
    }
    assert not tables & {"corpora", "versions", "exemplars", "half"}
    monkeypatch.setattr(migrations, "MIGRATIONS", MIGRATIONS)
    store = Store(path)
    assert store.create_version("c", kind="run", config={}) >= 1


def test_empty_db_path_is_refused():
    with pytest.raises(ZestError, match="empty"):
        Store("")


def _old_database(path, migrations):
    """A database as an older zest left it: only these migrations applied."""
    db = sqlite_utils.Database(path)
    db["_zest_migrations"].create({"name": str, "applied": str}, pk="name")
    for fn in migrations:
        fn(db)
        db["_zest_migrations"].insert({"name": fn.__name__, "applied": "then"})
    return db


def test_version_ids_are_never_reused_even_in_an_old_database(tmp_path):
    """A database made before AUTOINCREMENT keeps its ids, rows, links and triggers."""
    path = tmp_path / "old.db"
    old = _old_database(path, MIGRATIONS[:5])
    old["corpora"].insert({"id": 1, "name": "c", "created": "then"})
    for vid, parent in ((1, None), (2, 1)):
        old["versions"].insert(
            {
                "id": vid,
                "corpus_id": 1,
                "parent_id": parent,
                "kind": "run",
                "status": "running",
                "created": "then",
                "target_docs": 1,
            }
        )
    old["documents"].insert({"version_id": 1, "ordinal": 0, "text": "text"})
    old.conn.close()
    store = Store(path)
    assert store.version(2)["parent_id"] == 1
    assert store.documents(1)[0]["text"] == "text"
    assert list(store.db.execute("PRAGMA foreign_key_check")) == []
    store.delete_versions([2])
    store.finish(1, "complete", 0.0)
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        store.add_document(1, 1, "late")
    newest = store.create_version("c", kind="run", config={})
    store.delete_versions([newest])
    assert store.create_version("c", kind="run", config={}) == newest + 1


def test_anchors_are_all_or_nothing_across_insert_batches(store, db_path):
    """sqlite-utils inserts 100 rows per statement; a failure in the second batch must not
    leave the first 100 anchors behind."""
    vid = store.create_version("c", kind="run", config={}, n_anchors=121)
    with pytest.raises(sqlite3.OperationalError):
        store.add_anchors(vid, [{"text": f"a{i}"} for i in range(120)] + [{"bogus": 1}])
    assert _count(db_path, "SELECT count(*) FROM anchors") == 0


def test_prompts_from_a_huge_exemplar_cost_no_more_than_from_a_short_one():
    """The exemplar is cut to its first words without splitting all of it (50 MB once cost
    1 GB per prompt)."""
    import tracemalloc

    from zest_anchors import Hierarchical

    strat = Hierarchical()
    huge = [{"title": None, "text": "word. " * 4_000_000}]  # 24 MB
    tracemalloc.start()
    prompt = strat.prompt("document", huge, [0], "anchor")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert prompt.count("word.") == strat.templates["document"]["exemplar_words"] + 1
    assert peak < 1_000_000, peak


def test_versions_of_the_previous_schema_get_the_options_they_ran_with(tmp_path):
    """A store from before ``versions.resolved``: each version gains the values it ran with
    (the defaults of its time, -o strings typed, extra_buffers as its provenance recorded);
    complete versions stay immutable; experiment reuse finds the old run when asked for the
    same values, not when asked for the new default (vocab=auto, trimmed on English)."""
    from zest_core.corpus.exemplars import read_exemplars
    from zest_core.experiment.grid import GENERATION_DEFAULTS
    from zest_core.experiment.planning import _run_config, find_run
    from zest_core.plugin.manager import get_anchor_strategy

    path = tmp_path / "old.db"
    previous = [fn for fn in MIGRATIONS if fn.__name__ != "m_resolved_options"]
    assert len(previous) == len(MIGRATIONS) - 1
    old = _old_database(path, previous)
    exemplars = read_exemplars([str(SCIFACT_EXEMPLARS)])
    hashes = get_anchor_strategy("hierarchical")().template_hashes()
    old["corpora"].insert({"id": 1, "name": "c", "created": "then"})
    config = {
        **_run_config({**GENERATION_DEFAULTS, "options": {"batch_size": "4"}}, 0),
        "resumes": 1,
    }
    rows = [
        (1, None, "run", config, {"extra_buffers": False, "chat": False}),
        (2, 1, "filter", {"filters": [{"name": "exact-dedup", "settings": {}}]}, {}),
        (3, 1, "subset", {"subset_of": 1, "n_docs": 2}, {}),
        (4, None, "run", {}, {}),
    ]
    for vid, parent, kind, cfg, provenance in rows:
        old["versions"].insert(
            {
                "id": vid,
                "corpus_id": 1,
                "parent_id": parent,
                "kind": kind,
                "status": "running",  # complete once its rows are in (triggers)
                "created": "then",
                "target_docs": 2,
                "config": json.dumps(cfg),
                "prompt_hashes": json.dumps(hashes),
                "provenance": json.dumps(provenance),
            }
        )
    old["exemplars"].insert_all(
        {"version_id": 1, "ordinal": i, "title": e.get("title"), "text": e["text"]}
        for i, e in enumerate(exemplars)
    )
    old.execute("UPDATE versions SET status = 'complete'")
    old.conn.close()

    store = Store(path)
    run = store.version(1)["resolved"]
    assert run["options"]["vocab"] == "full" and run["options"]["batch_size"] == 4
    assert run["options"]["extra_buffers"] == "off" and run["loaded"] == {"chat": False}
    assert run["templates"] == hashes and "resumes" not in run
    assert store.version(2)["resolved"] == {"filters": [{"name": "exact-dedup", "options": {}}]}
    assert store.version(3)["resolved"] == {**run, "n_docs": 2}
    assert store.version(4)["resolved"] == {}
    with pytest.raises(sqlite3.IntegrityError, match="immutable"):
        store.update_version(1, error="late")

    def found(options):
        generation = {**GENERATION_DEFAULTS, "options": options}
        return find_run(store, generation, 0, exemplars)

    # It ran with the loop check off and without end_after (added later: it ran as 0 does),
    # today's defaults are on: asked plainly, it is not reused; asked as it ran, it is.
    asked = {"vocab": "full", "batch_size": 4, "extra_buffers": "off"}
    assert found(asked) is None
    wanted = {**asked, "loop_ngram": 0, "end_after": 0}
    assert found(wanted)["id"] == 1
    assert found({**wanted, "end_after": 64}) is None
    assert found({**wanted, "loop_ngram": 20}) is None
    assert pinned_options(config, run)["end_after"] == 0
    assert found({**wanted, "vocab": "auto"}) is None
    assert found({"batch_size": 4}) is None


def _result(key: str, ndcg: float) -> dict:
    return {"created": "now", "dataset": "d", "encoder": "hybrid", "context": "none",
            "settings": json.dumps({"key": key}), "ndcg_at_10": ndcg, "recall_at_100": ndcg,
            "metrics": "{}"}  # fmt: skip


def test_one_eval_result_per_key(store):
    """A key scored again replaces its row (same id) instead of adding a second one: two
    ``zest experiment`` at once stored 6 rows for 3 keys."""
    first = store.add_eval_result(
        _result("k", 0.1), {"q1": {"ndcg_at_10": 0.1, "recall_at_100": 0}}
    )
    again = store.add_eval_result(
        _result("k", 0.2), {"q2": {"ndcg_at_10": 0.2, "recall_at_100": 1}}
    )
    other = store.add_eval_result(_result("j", 0.3), {})
    assert again == first != other
    assert [(r["id"], r["ndcg_at_10"]) for r in store.eval_results()] == [
        (first, 0.2),
        (other, 0.3),
    ]
    assert [r["query_id"] for r in store.query_scores(first)] == ["q2"]
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        store.db["eval_results"].insert(_result("k", 0.4))  # the index, for any other writer


def test_the_migration_folds_duplicate_results_into_the_newest(tmp_path):
    from zest_core.corpus import migrations

    path = tmp_path / "old.db"
    old = _old_database(path, MIGRATIONS[: MIGRATIONS.index(migrations.m_eval_results_one_per_key)])
    for key, ndcg in (("k", 0.1), ("j", 0.5), ("k", 0.2), ("k", 0.3)):
        rid = old["eval_results"].insert(_result(key, ndcg)).last_pk
        old["eval_query_scores"].insert({"result_id": rid, "query_id": "q", "ndcg_at_10": ndcg})
    old.conn.close()
    store = Store(path)
    assert [(r["id"], r["ndcg_at_10"]) for r in store.eval_results()] == [(2, 0.5), (4, 0.3)]
    assert _count(path, "SELECT count(*) FROM eval_query_scores") == 2
    assert list(store.db.execute("PRAGMA foreign_key_check")) == []


def test_a_database_that_records_the_numbered_names_is_not_migrated_again(tmp_path):
    """The first ten migrations were named m001_... to m010_...; a database made then
    records those names, and they count as the renamed migrations (none runs twice)."""
    former = {new: old for old, new in migrations.FORMER_NAMES.items()}
    first = MIGRATIONS[: MIGRATIONS.index(migrations.m_lease_supervisor) + 1]
    assert [fn.__name__ for fn in first if fn.__name__ in former] == list(former)
    path = tmp_path / "numbered.db"
    old = _old_database(path, first)
    for new, numbered in former.items():
        old.execute("UPDATE _zest_migrations SET name = ? WHERE name = ?", [numbered, new])
    old.conn.commit()
    old.conn.close()
    store = Store(path)  # a migration run twice fails here ("table ... already exists")
    names = [row[0] for row in store.db.execute("SELECT name FROM _zest_migrations")]
    assert set(former.values()) <= set(names)
    assert not set(former) & set(names)  # the renamed ones were not applied again
    assert migrations.pending(store.db) == []


def test_every_migration_is_named_one_way():
    assert all(fn.__name__.startswith("m_") for fn in MIGRATIONS)
    with pytest.raises(AssertionError, match="name it m_"):
        migrations.migration(lambda db: None)
