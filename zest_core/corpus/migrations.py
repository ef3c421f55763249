"""Schema migrations: named functions, applied once each, in order. Append only.

One module: the order of the migrations is the order they are defined in, so they stay in
one file (with the frozen defaults the resolved-options migration needs beside it)."""

import contextlib
import datetime
import json
import sqlite3

import sqlite_utils

from .keys import RUN_KEYS

MIGRATIONS = []

#: Every migration is named ``m_<what it does>``; the first ten carried a number too
#: (``m001_...``), and databases made before the rename record those names: they count as
#: the same migrations.
FORMER_NAMES = {
    "m001_corpora_and_versions": "m_corpora_and_versions",
    "m002_exemplars_anchors_documents": "m_exemplars_anchors_documents",
    "m003_complete_versions_are_immutable": "m_complete_versions_are_immutable",
    "m004_filter_drops": "m_filter_drops",
    "m005_caches_and_results": "m_caches_and_results",
    "m006_version_ids_never_reused": "m_version_ids_never_reused",
    "m007_version_leases": "m_version_leases",
    "m008_eval_query_scores": "m_eval_query_scores",
    "m009_embedding_cache_chunks": "m_embedding_cache_chunks",
    "m010_lease_supervisor": "m_lease_supervisor",
}


def migration(fn):
    name = fn.__name__
    if not name.startswith("m_") or name in {m.__name__ for m in MIGRATIONS}:
        raise AssertionError(f"migration {name}: name it m_<what it does>, once")
    MIGRATIONS.append(fn)
    return fn


def migrate(store) -> None:
    """Apply the pending migrations in one ``BEGIN IMMEDIATE`` transaction.

    SQLite's DDL is transactional, so a kill half-way leaves the file as it was; what is
    applied is read inside the transaction, so concurrent first openers of a new file each
    either apply everything or find it applied (never "table already exists").
    """
    db = store.db
    if pending(db) is not None and not pending(db):
        return  # the common case: nothing to do, and no write lock taken
    with store.transaction():
        db.execute(
            "CREATE TABLE IF NOT EXISTS _zest_migrations (name TEXT PRIMARY KEY, applied TEXT)"
        )
        for fn in pending(db):
            fn(db)
            db.execute(
                "INSERT INTO _zest_migrations (name, applied) VALUES (?, ?)",
                [fn.__name__, datetime.datetime.now(datetime.UTC).isoformat()],
            )


def pending(db: sqlite_utils.Database) -> list | None:
    """The migrations not applied yet, or None for a database without the migrations table."""
    if not db["_zest_migrations"].exists():
        return None
    done = {
        FORMER_NAMES.get(name, name) for (name,) in db.execute("SELECT name FROM _zest_migrations")
    }
    return [fn for fn in MIGRATIONS if fn.__name__ not in done]


@migration
def m_corpora_and_versions(db):
    db["corpora"].create({"id": int, "name": str, "created": str}, pk="id")
    db["corpora"].create_index(["name"], unique=True)
    db["versions"].create(
        {
            "id": int,
            "corpus_id": int,
            "parent_id": int,
            "kind": str,  # run | filter | top-up
            "status": str,  # running | complete | failed
            "created": str,
            "finished": str,
            "strategy": str,
            "generator": str,
            "model": str,
            "seed": int,
            "target_docs": int,
            "n_anchors": int,
            "config": str,  # JSON: everything needed to resume or reproduce
            "prompt_hashes": str,  # JSON: template name -> sha256
            "provenance": str,  # JSON: what the generator says about itself
            "wall_seconds": float,
            "error": str,
        },
        pk="id",
        foreign_keys=[("corpus_id", "corpora", "id"), ("parent_id", "versions", "id")],
        not_null={"corpus_id", "kind", "status", "created"},
        defaults={"wall_seconds": 0.0},
    )


@migration
def m_exemplars_anchors_documents(db):
    db["exemplars"].create(
        {"id": int, "version_id": int, "ordinal": int, "title": str, "text": str, "source": str},
        pk="id",
        foreign_keys=[("version_id", "versions", "id")],
    )
    db["anchors"].create(
        {
            "id": int,
            "version_id": int,
            "ordinal": int,
            "text": str,
            "attempts": int,  # samples drawn until this anchor was accepted
            "prompt_tokens": int,
            "completion_tokens": int,
        },
        pk="id",
        foreign_keys=[("version_id", "versions", "id")],
    )
    db["documents"].create(
        {
            "id": int,
            "version_id": int,
            "ordinal": int,  # position in the generation plan
            "anchor_id": int,
            "text": str,
            "content_hash": str,
            "token_count": int,
            "prompt_tokens": int,
            "seed": int,
            "finish_reason": str,
            "created": str,
        },
        pk="id",
        foreign_keys=[("version_id", "versions", "id"), ("anchor_id", "anchors", "id")],
    )
    for table in ("exemplars", "anchors"):
        db[table].create_index(["version_id", "ordinal"], unique=True)
    db["documents"].create_index(["version_id", "ordinal"], unique=True)
    db["documents"].create_index(["content_hash"])


FROZEN_TABLES = ("exemplars", "anchors", "documents")


def _freeze_triggers(db) -> None:
    """Triggers that refuse INSERT and UPDATE on the rows of a complete version."""
    for table in FROZEN_TABLES:
        for event in ("INSERT", "UPDATE"):
            db.execute(
                f"""CREATE TRIGGER {table}_{event.lower()}_frozen BEFORE {event} ON {table}
                WHEN (SELECT status FROM versions WHERE id = NEW.version_id) = 'complete'
                BEGIN SELECT RAISE(ABORT, 'version is complete and immutable'); END"""
            )
    db.execute(VERSIONS_FROZEN)


VERSIONS_FROZEN = """CREATE TRIGGER versions_update_frozen BEFORE UPDATE ON versions
        WHEN OLD.status = 'complete'
        BEGIN SELECT RAISE(ABORT, 'version is complete and immutable'); END"""


@migration
def m_complete_versions_are_immutable(db):
    _freeze_triggers(db)


@migration
def m_filter_drops(db):
    db["drops"].create(
        {
            "id": int,
            "version_id": int,  # the child version the document was left out of
            "document_id": int,  # the parent's document row
            "ordinal": int,
            "filter": str,
            "reason": str,
            "detail": str,
        },
        pk="id",
        foreign_keys=[("version_id", "versions", "id"), ("document_id", "documents", "id")],
    )
    db["drops"].create_index(["version_id"])


@migration
def m_caches_and_results(db):
    db["context_cache"].create(
        {
            "key": str,
            "encoder": str,
            "settings": str,
            "context": str,
            "created": str,
            "data": bytes,
        },
        pk="key",
    )
    db["embedding_cache"].create(
        {
            "key": str,
            "dataset": str,
            "model": str,
            "count": int,
            "dim": int,
            "created": str,
            "data": bytes,
        },
        pk="key",
    )
    db["eval_results"].create(
        {
            "id": int,
            "created": str,
            "dataset": str,
            "encoder": str,
            "context": str,
            "settings": str,
            "ndcg_at_10": float,
            "recall_at_100": float,
            "metrics": str,
        },
        pk="id",
    )


@migration
def m_version_ids_never_reused(db):
    """AUTOINCREMENT, so removing the newest version never hands its id to the next one.

    SQLite cannot add AUTOINCREMENT in place: the table is rebuilt (the migrations run with
    foreign keys off, inside one transaction). The triggers that name ``versions`` are dropped
    and made again, since renaming a table checks every trigger's references.
    """
    sql = db.execute("SELECT sql FROM sqlite_master WHERE name = 'versions'").fetchone()[0]
    pk = '"id" INTEGER PRIMARY KEY'
    if pk not in sql:
        raise RuntimeError(f"unexpected schema of table versions: {sql}")
    new_sql = sql.replace('"versions" (', '"versions_new" (', 1).replace(
        pk, pk + " AUTOINCREMENT", 1
    )
    for table in FROZEN_TABLES:
        for event in ("insert", "update"):
            db.execute(f"DROP TRIGGER IF EXISTS {table}_{event}_frozen")
    db.execute(new_sql)
    db.execute("INSERT INTO versions_new SELECT * FROM versions")
    db.execute("DROP TABLE versions")
    db.execute("ALTER TABLE versions_new RENAME TO versions")
    _freeze_triggers(db)


@migration
def m_version_leases(db):
    """Which process writes a running version: one writer per version (see Store.acquire)."""
    for column, kind in (
        ("lease_pid", int),
        ("lease_host", str),
        ("lease_start", str),
        ("lease_heartbeat", float),
    ):
        db["versions"].add_column(column, kind)


@migration
def m_eval_query_scores(db):
    """Every result's per-query scores, so two results compare query by query. (Stores made
    by the exper branch before its merge have the table under another migration name.)"""
    if db["eval_query_scores"].exists():
        return
    db["eval_query_scores"].create(
        {"result_id": int, "query_id": str, "ndcg_at_10": float, "recall_at_100": float},
        pk=("result_id", "query_id"),
        foreign_keys=[("result_id", "eval_results", "id")],
    )


@migration
def m_embedding_cache_chunks(db):
    # A corpus's vectors as rows of a few MB each: one blob hits SQLite's 1 GB limit at
    # about 650k MiniLM vectors. Rows of embedding_cache written before keep their blob.
    db["embedding_chunks"].create(
        {"key": str, "chunk": int, "data": bytes}, pk=("key", "chunk"), if_not_exists=True
    )


@migration
def m_ctx_synthetic_queries_and_tunings(db):
    # A query belongs to one synthetic document and a tuning to one version; both go with
    # them when `zest corpora rm` deletes the version (hence the cascades).
    db.execute(
        """CREATE TABLE synthetic_queries (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL UNIQUE REFERENCES documents(id) ON DELETE CASCADE,
            text TEXT NOT NULL,  -- '' when no sample gave a usable query
            seed INTEGER, attempts INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER,
            finish_reason TEXT, generator TEXT, model TEXT, template_hash TEXT, created TEXT)"""
    )
    db.execute(
        """CREATE TABLE tunings (
            id INTEGER PRIMARY KEY,
            version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
            encoder TEXT NOT NULL,
            base TEXT NOT NULL,  -- JSON: the encoder settings the grid was searched under
            settings TEXT NOT NULL,  -- JSON: the chosen values of the tuned options
            metric TEXT, score REAL, default_score REAL, queries INTEGER,
            grid TEXT,  -- JSON: every point searched with its score
            created TEXT)"""
    )
    db.execute("CREATE INDEX tunings_version ON tunings (version_id, encoder)")


@migration
def m_lease_supervisor(db):
    """The supervising ``zest`` process of a lease's writer (zest_core/supervisor.py): once
    it is gone, the writer has been sent SIGKILL and can write nothing more, so the lease is
    stale even in the moments before the writer's own exit is complete."""
    db["versions"].add_column("lease_supervisor", int)


# The option defaults of the shipped generators when versions began to record their resolved
# options, frozen here: the migration must fill old rows with the defaults they ran under,
# not with whatever the plugins declare later. (llama-cpp's extra_buffers is taken from each
# version's provenance, where it was recorded as resolved.)
DEFAULTS_BEFORE_RESOLVED = {
    "llama-cpp": {
        "n_ctx": 4096,
        "n_threads": 1,
        "n_batch": 512,
        "batch_size": 8,
        "workers": 2,
        "mode": "auto",
        "top_p": 0.95,
        "top_k": 64,
        "vocab": "full",
        "vocab_size": 32000,
        "repeat_penalty": 1.0,
        "loop_ngram": 0,
        "loop_repeats": 3,
        "extra_buffers": "auto",
    },
    "ollama": {
        "host": "",
        "mode": "completion",
        "stream": False,
        "timeout": 600.0,
        "num_ctx": 4096,
        "top_p": 0.95,
        "top_k": 64,
    },
    "openai": {
        "base_url": "",
        "mode": "completion",
        "concurrency": 4,
        "max_retries": 3,
        "timeout": 600.0,
        "top_p": 1.0,
    },
    "transformers": {"device": "auto", "dtype": "auto", "top_p": 0.95, "top_k": 64},
    "echo": {"sentences": 3, "max_words": 24, "order": "seeded"},
}


def _resolved_then(version: dict, parents: dict[int, dict]) -> dict:
    """What an existing version ran with, as far as the zest that made it knew (see
    ``runconfig.resolve_config`` for the shape of newer ones)."""
    config = json.loads(version["config"] or "{}")
    provenance = json.loads(version["provenance"] or "{}")
    if "filters" in config:  # a filter version's settings were always checked and complete
        return {
            "filters": [{"name": f["name"], "options": f["settings"]} for f in config["filters"]]
        }
    if version["kind"] == "subset":
        return {**parents.get(version["parent_id"], {}), "n_docs": config.get("n_docs")}
    if "generator" not in config:
        return {}
    name = config["generator"]
    # A third-party generator's defaults are unknown here: its options stay as asked, so
    # ``zest experiment`` (which compares complete option sets) does not reuse its runs.
    defaults = DEFAULTS_BEFORE_RESOLVED.get(name, {})
    options = {**defaults, **config.get("options", {})}
    for key, value in options.items():  # -o values were stored as the strings given
        if key in defaults and isinstance(value, str):
            options[key] = _typed_as(defaults[key], value)
    loaded = {}
    if name == "llama-cpp":
        if options["extra_buffers"] == "auto":
            # Before the option existed llama.cpp always used its extra buffer types.
            options["extra_buffers"] = "off" if provenance.get("extra_buffers") is False else "on"
        if "chat" in provenance:
            loaded["chat"] = provenance["chat"]
        if "trimmed" in provenance:
            loaded["trimmed"] = {k: provenance["trimmed"][k] for k in ("size", "kept_sha256")}
    return {
        **{key: config.get(key) for key in RUN_KEYS},
        "options": options,
        "templates": json.loads(version["prompt_hashes"] or "{}"),
        "loaded": loaded,
    }


def _typed_as(default, value: str):
    """``value`` (a string given with ``-o``) as the type of ``default``, as the generator
    checked it then; left a string where it does not convert (it never ran)."""
    kind = type(default)
    if kind is str:
        return value
    text = value.strip().lower()
    if kind is bool:
        return text in ("1", "true", "yes", "on")
    try:
        return kind(text)
    except ValueError:
        return value


@migration
def m_resolved_options(db):
    """``versions.resolved``: the option values a version ran with (defaults filled in,
    ``auto`` resolved) beside ``config``, what was asked for. Existing rows get the values of
    the defaults they ran under. The immutability trigger on versions is lifted meanwhile:
    complete versions gain the column's value, nothing else changes."""
    db["versions"].add_column("resolved", str)
    db.execute("DROP TRIGGER versions_update_frozen")
    made: dict[int, dict] = {}
    for version in db.execute_returning_dicts("SELECT * FROM versions ORDER BY id"):
        made[version["id"]] = resolved = _resolved_then(version, made)
        db.execute(
            "UPDATE versions SET resolved = ? WHERE id = ?",
            [json.dumps(resolved, sort_keys=True), version["id"]],
        )
    db.execute(VERSIONS_FROZEN)


@migration
def m_adapted_models(db):
    # Encoders fine-tuned by `zest adapt`: the folder zest owns and what made it. `key` is the
    # digest of the inputs (base model, documents, queries, options), so the same command
    # finds its model again; a model outlives the version it was trained on (SET NULL).
    db.execute(
        """CREATE TABLE adapted_models (
            id INTEGER PRIMARY KEY,
            version_id INTEGER REFERENCES versions(id) ON DELETE SET NULL,
            key TEXT NOT NULL UNIQUE,
            base_model TEXT NOT NULL,
            options TEXT NOT NULL,  -- JSON: the training options (epochs, loss, seed, ...)
            seed INTEGER,
            status TEXT NOT NULL,  -- running | complete | failed
            path TEXT,  -- the model folder, set once it is whole
            fingerprint TEXT,  -- sha256 over the saved weights
            training_loss REAL, pairs INTEGER,
            counts TEXT,  -- JSON: queries, dropped by the round trip, anchor pairs
            wall_seconds REAL, created TEXT, finished TEXT, error TEXT,
            lease_pid INTEGER, lease_host TEXT, lease_start TEXT, lease_heartbeat REAL)"""
    )


@migration
def m_documents_full_text(db):
    """``documents_fts``: sqlite-utils' FTS5 index of the documents' text (``zest browse``
    searches it), filled from the rows there are and kept current by its triggers on every
    insert, update and delete of ``documents``.

    sqlite-utils makes the table and triggers with ``db.executescript``; Python's
    ``executescript`` commits the open transaction first (sqlite-utils 4.2 avoids that, older
    ones that the dependency allows may not), so here its scripts run statement by
    statement, and this migration stays inside ``migrate``'s one transaction."""
    with _statement_by_statement(db):
        db["documents"].enable_fts(["text"], create_triggers=True, tokenize="porter")


@contextlib.contextmanager
def _statement_by_statement(db: sqlite_utils.Database):
    """``db.executescript`` as single ``execute`` calls, split where SQLite says a statement
    is complete (a trigger's body holds semicolons), so none of them commits."""

    def run(script: str) -> None:
        statement = ""
        for line in script.splitlines(keepends=True):
            statement += line
            if sqlite3.complete_statement(statement):
                db.execute(statement)
                statement = ""
        if statement.strip():
            db.execute(statement)

    db.executescript = run
    try:
        yield
    finally:
        del db.executescript


@migration
def m_eval_results_one_per_key(db):
    """One ``eval_results`` row per settings key (``settings.key``: what a score depends on).
    Two ``zest experiment`` processes at once each stored every score they made (6 rows for
    3 keys); the duplicates are folded into the newest row of each key, and a unique index
    keeps it so (``Store.add_eval_result`` looks up and writes under the write lock)."""
    stale = """SELECT id FROM eval_results r WHERE json_extract(settings, '$.key') IS NOT NULL
               AND id < (SELECT max(id) FROM eval_results o WHERE
                         json_extract(o.settings, '$.key') = json_extract(r.settings, '$.key'))"""
    db.execute(f"DELETE FROM eval_query_scores WHERE result_id IN ({stale})")
    db.execute(f"DELETE FROM eval_results WHERE id IN ({stale})")
    db.execute(
        "CREATE UNIQUE INDEX eval_results_one_per_key"
        " ON eval_results (json_extract(settings, '$.key'))"
    )
