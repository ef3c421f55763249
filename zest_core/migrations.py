"""Schema migrations: named functions, applied once each, in order. Append only."""

import datetime

import sqlite_utils

MIGRATIONS = []


def migration(fn):
    MIGRATIONS.append(fn)
    return fn


def migrate(db: sqlite_utils.Database) -> None:
    applied = db["_zest_migrations"]
    if not applied.exists():
        applied.create({"name": str, "applied": str}, pk="name")
    done = {row["name"] for row in applied.rows}
    for fn in MIGRATIONS:
        if fn.__name__ in done:
            continue
        with db.conn:
            fn(db)
            applied.insert(
                {"name": fn.__name__, "applied": datetime.datetime.now(datetime.UTC).isoformat()}
            )


@migration
def m001_corpora_and_versions(db):
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
def m002_exemplars_anchors_documents(db):
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


@migration
def m003_complete_versions_are_immutable(db):
    for table in ("exemplars", "anchors", "documents"):
        for event in ("INSERT", "UPDATE"):
            db.execute(
                f"""CREATE TRIGGER {table}_{event.lower()}_frozen BEFORE {event} ON {table}
                WHEN (SELECT status FROM versions WHERE id = NEW.version_id) = 'complete'
                BEGIN SELECT RAISE(ABORT, 'version is complete and immutable'); END"""
            )
    db.execute(
        """CREATE TRIGGER versions_update_frozen BEFORE UPDATE ON versions
        WHEN OLD.status = 'complete'
        BEGIN SELECT RAISE(ABORT, 'version is complete and immutable'); END"""
    )


@migration
def m004_filter_drops(db):
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
def m005_caches_and_results(db):
    db["context_cache"].create(
        {"key": str, "encoder": str, "settings": str, "context": str, "created": str,
         "data": bytes},
        pk="key",
    )
    db["embedding_cache"].create(
        {"key": str, "dataset": str, "model": str, "count": int, "dim": int, "created": str,
         "data": bytes},
        pk="key",
    )
    db["eval_results"].create(
        {"id": int, "created": str, "dataset": str, "encoder": str, "context": str,
         "settings": str, "ndcg_at_10": float, "recall_at_100": float, "metrics": str},
        pk="id",
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
            finish_reason TEXT, generator TEXT, model TEXT, template_hash TEXT, created TEXT)""")
    db.execute(
        """CREATE TABLE tunings (
            id INTEGER PRIMARY KEY,
            version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
            encoder TEXT NOT NULL,
            base TEXT NOT NULL,  -- JSON: the encoder settings the grid was searched under
            settings TEXT NOT NULL,  -- JSON: the chosen values of the tuned options
            metric TEXT, score REAL, default_score REAL, queries INTEGER,
            grid TEXT,  -- JSON: every point searched with its score
            created TEXT)""")
    db.execute("CREATE INDEX tunings_version ON tunings (version_id, encoder)")
