"""What ``zest browse`` tells Datasette about the store: descriptions of the tables and
columns, which tables are internal, default sorts and facets, and the canned queries.

Plain data, apart from the command and the pages, so the docs and the tests read the same
queries the browser runs (docs/browse.md lists them)."""

NAME = "zest"  # the store's name in Datasette's URLs: /zest/documents, /zest/lineage

# The tables that only zest itself reads: hidden from the index pages (still reachable by URL).
INTERNAL = ("_zest_migrations", "context_cache", "embedding_cache", "embedding_chunks")

TABLES = {
    "corpora": {
        "description": "One row per corpus name; each corpus holds a lineage of versions.",
        "sort": "name",
    },
    "versions": {
        "description": "Every run, filter, subset and top-up is an immutable version; "
        "parent_id is the version it was made from.",
        "sort_desc": "id",
        "facets": ["status", "kind", "generator"],
        "columns": {
            "parent_id": "The version this one was made from (empty for a run).",
            "kind": "run, filter, subset or top-up; links to the version's page.",
            "status": "running, complete or failed; a complete version never changes.",
            "config": "JSON: what was asked for.",
            "resolved": "JSON: the values it ran with, defaults filled in.",
            "provenance": "JSON: what the generator said about itself, and its token usage.",
            "lease_pid": "The process writing a running version.",
        },
    },
    "exemplars": {
        "description": "The exemplar documents a version was generated from.",
        "sort": "ordinal",
        "facets": ["version_id"],
    },
    "anchors": {
        "description": "The titles the model chose first; each document is written for one.",
        "sort": "ordinal",
        "facets": ["version_id"],
        "label_column": "text",
        "columns": {"attempts": "Samples drawn until this anchor was accepted."},
    },
    "documents": {
        "description": "The synthetic documents. A filtered version holds copies of its "
        "parent's kept rows. Search is full-text (FTS5, stemmed) over text.",
        "sort_desc": "id",
        "facets": ["version_id", "finish_reason"],
        "fts_table": "documents_fts",
        "fts_pk": "id",
        "columns": {
            "text": "The beginning of the text; 'read' opens the whole document.",
            "ordinal": "Position in the generation plan, kept across versions.",
            "anchor_id": "The anchor this document was written for.",
            "content_hash": "SHA-256 of the text: the same text in two versions.",
            "token_count": "Generated tokens.",
            "finish_reason": "stop: the model ended it; length: cut at the token limit.",
        },
    },
    "drops": {
        "description": "A document a filter left out of a child version, and why.",
        "sort": "id",
        "facets": ["version_id", "filter", "reason"],
        "columns": {
            "version_id": "The child version the document was left out of.",
            "document_id": "The parent's document row.",
        },
    },
    "eval_results": {
        "description": "Retrieval quality of an encoder on a dataset (zest eval).",
        "sort_desc": "id",
        "facets": ["dataset", "encoder"],
    },
}

# A version and its ancestors, nearest first (for the canned queries below).
_LINEAGE = """
SELECT v.id AS version_id, c.name AS corpus, v.kind, v.status, v.parent_id,
  (SELECT group_concat(k.id, ', ') FROM versions k WHERE k.parent_id = v.id) AS children,
  (SELECT count(*) FROM documents d WHERE d.version_id = v.id) AS documents,
  v.generator, v.model, v.strategy, v.seed, v.created
FROM versions v JOIN corpora c ON c.id = v.corpus_id
ORDER BY c.name, v.id
"""

_ANCHORS = """
SELECT a.id AS anchor_id, a.ordinal, a.text AS anchor, a.attempts,
  (SELECT count(*) FROM documents d WHERE d.anchor_id = a.id) AS documents
FROM anchors a WHERE a.version_id = :version
ORDER BY a.ordinal
"""

_ANCHOR_DOCUMENTS = """
SELECT d.id AS document_id, d.ordinal, d.token_count, d.finish_reason,
  substr(d.text, 1, 300) AS beginning
FROM documents d WHERE d.anchor_id = :anchor
ORDER BY d.ordinal
"""

_DROPS = """
SELECT dr.document_id, dr.ordinal, dr.filter, dr.reason, dr.detail,
  substr(d.text, 1, 200) AS beginning
FROM drops dr JOIN documents d ON d.id = dr.document_id
WHERE dr.version_id = :version
ORDER BY dr.filter, dr.reason, dr.ordinal
"""

_DROP_REASONS = """
SELECT filter, reason, count(*) AS dropped, min(ordinal) AS first_ordinal
FROM drops WHERE version_id = :version
GROUP BY filter, reason ORDER BY dropped DESC
"""

# By content: a filtered child's rows are copies with new ids, so ids say nothing here.
_SIDE_BY_SIDE = """
SELECT 'only in ' || :a AS side, d.id AS document_id, d.ordinal, d.token_count,
  substr(d.text, 1, 200) AS beginning
FROM documents d WHERE d.version_id = :a AND d.content_hash NOT IN
  (SELECT content_hash FROM documents WHERE version_id = :b)
UNION ALL
SELECT 'only in ' || :b, d.id, d.ordinal, d.token_count, substr(d.text, 1, 200)
FROM documents d WHERE d.version_id = :b AND d.content_hash NOT IN
  (SELECT content_hash FROM documents WHERE version_id = :a)
ORDER BY 1, 3
"""

_BY_LENGTH = """
SELECT d.id AS document_id, d.ordinal, length(d.text) AS characters, d.token_count,
  d.finish_reason, substr(d.text, 1, 200) AS beginning
FROM documents d WHERE d.version_id = :version
ORDER BY characters DESC
"""

QUERIES = {
    "lineage": {
        "title": "Versions with their lineage",
        "description": "Every version: its corpus, parent, children and size.",
        "sql": _LINEAGE,
    },
    "anchors": {
        "title": "One version's anchors",
        "description": "The anchors of a version with how many documents each has.",
        "sql": _ANCHORS,
    },
    "anchor_documents": {
        "title": "One anchor's documents",
        "description": "The documents written for one anchor (its anchor_id).",
        "sql": _ANCHOR_DOCUMENTS,
    },
    "drops": {
        "title": "What a filter dropped",
        "description": "The documents a filter version left out of its parent, with reasons.",
        "sql": _DROPS,
    },
    "drop_reasons": {
        "title": "Why a filter dropped documents",
        "description": "A filter version's drops counted by filter and reason.",
        "sql": _DROP_REASONS,
    },
    "side_by_side": {
        "title": "Two versions side by side",
        "description": "The documents only in version a or only in version b (by content).",
        "sql": _SIDE_BY_SIDE,
    },
    "by_length": {
        "title": "Documents by length",
        "description": "One version's documents, longest first.",
        "sql": _BY_LENGTH,
    },
}


def metadata() -> dict:
    """Datasette's metadata for the store (served under ``NAME``)."""
    tables = {name: dict(table) for name, table in TABLES.items()}
    tables.update({name: {"hidden": True} for name in INTERNAL})
    return {
        "title": "zest corpora",
        "description": "Synthetic corpora made by zest, read-only. Start at a version's page "
        "from the lineage query; every document links to its own page.",
        "databases": {
            NAME: {
                "description": "The zest store: corpora, their versions and documents.",
                "tables": tables,
                "queries": {name: dict(query) for name, query in QUERIES.items()},
            }
        },
    }
