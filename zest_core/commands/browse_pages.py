"""zest's Datasette plugin: a page per version (its lineage: parent, ancestors, children) and
per document (anchor, text in paragraphs, generation settings), and links to them from
Datasette's own tables and from the canned queries' results.

Registered by ``zest browse`` on Datasette's plugin manager when it starts (no entry point:
a plain ``datasette`` run on the store does not load it). The pages extend Datasette's
``base.html``, so they use its local stylesheet and nothing from elsewhere."""

import json

from datasette import hookimpl
from datasette.database import Database
from datasette.utils.asgi import NotFound, Response
from markupsafe import Markup

from .browse_queries import NAME

VERSION = "/-/zest/version/{}"
DOCUMENT = "/-/zest/document/{}"
SNIPPET = 240  # characters of a document's text in Datasette's tables
LISTED = 50  # the documents a version's page lists; the rest are a table link away

# Both pages: Datasette's base.html (its header, footer and local stylesheet) around BODY.
PAGE = """{% extends "base.html" %}
{% block title %}{{ title }}{% endblock %}
{% block extra_head %}<style>
.zest dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
.zest dt { font-weight: bold; }
.zest dd { margin: 0; }
.zest article { max-width: 46em; line-height: 1.5; font-size: 1.05em; }
</style>{% endblock %}
{% block content %}<div class="zest">BODY</div>{% endblock %}
"""

VERSION_BODY = """<h1>{{ title }}: {{ v.kind }}, {{ v.status }}</h1>
<p class="lineage">Lineage:
{% for a in ancestors %}<a href="{{ a.href }}">version {{ a.id }}</a> ({{ a.kind }}) &rarr;
{% endfor %}<strong>version {{ v.id }}</strong>
{% if children %}&rarr; children:
{% for c in children %}<a href="{{ c.href }}">version {{ c.id }}</a> ({{ c.kind }})
{% endfor %}{% else %}(no children){% endif %}</p>
<dl>
{% for key, value in facts %}<dt>{{ key }}</dt><dd>{{ value }}</dd>
{% endfor %}</dl>
<h2>Look closer</h2>
<ul>{% for label, href in links %}<li><a href="{{ href }}">{{ label }}</a></li>{% endfor %}</ul>
<h2>Documents{% if shown < count %} (the first {{ shown }} of {{ count }}){% endif %}</h2>
<ol>{% for d in documents %}<li value="{{ d.ordinal }}"><a href="{{ d.href }}">{{ d.anchor
 or "document " ~ d.id }}</a>: {{ d.beginning }}&hellip;</li>{% endfor %}</ol>
"""

DOCUMENT_BODY = """<h1>{{ title }}</h1>
<p>Document {{ d.id }}, number {{ d.ordinal }} of
<a href="{{ version_href }}">version {{ d.version_id }}</a> ({{ d.corpus }}){% if anchor_href %},
written for <a href="{{ anchor_href }}">anchor {{ d.anchor_ordinal }}</a>{% endif %}.
{% if previous %}<a href="{{ previous }}">&larr; previous</a>{% endif %}
{% if next %}<a href="{{ next }}">next &rarr;</a>{% endif %}</p>
<article>{% for p in paragraphs %}<p>{{ p }}</p>{% endfor %}</article>
<h2>Generation settings</h2>
<dl>
{% for key, value in settings %}<dt>{{ key }}</dt><dd>{{ value }}</dd>
{% endfor %}</dl>
"""


class ReadOnlyDatabase(Database):
    """The store as a mutable Datasette database (read afresh on each request: a writer may
    be adding to it) whose every connection is SQLite ``mode=ro``: Datasette opens a
    writable one for writes that plugins or canned queries ask for, and here there is none."""

    def __init__(self, ds, path: str):
        super().__init__(ds, path=path, is_mutable=True)

    def connect(self, write=False):
        return super().connect(write=False)


async def _requested(datasette, request, sql: str):
    """The store, the id in the page's URL and its row by ``sql`` (a 404 where none)."""
    db = datasette.get_database(NAME)
    row_id = int(request.url_vars["id"])
    return db, row_id, await _one(db, sql, [row_id])


async def _dicts(db, sql: str, params: list) -> list[dict]:
    return [dict(row) for row in (await db.execute(sql, params)).rows]


async def _one(db, sql: str, params: list) -> dict:
    rows = await _dicts(db, sql, params)
    if not rows:
        raise NotFound("no such row in the zest store")
    return rows[0]


async def _render(datasette, request, body: str, context: dict) -> Response:
    template = datasette.jinja_env.from_string(PAGE.replace("BODY", body))
    return Response.html(await datasette.render_template(template, context, request=request))


def _linked(datasette, rows: list[dict], page: str) -> list[dict]:
    """``rows`` with the ``href`` of each one's ``page`` (VERSION or DOCUMENT)."""
    return [{**row, "href": datasette.urls.path(page.format(row["id"]))} for row in rows]


def _query(datasette, name: str, **params) -> str:
    args = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{datasette.urls.query(NAME, name)}?{args}"


async def version_page(datasette, request):
    db, vid, v = await _requested(
        datasette,
        request,
        """SELECT v.*, c.name AS corpus FROM versions v JOIN corpora c ON c.id = v.corpus_id
           WHERE v.id = ?""",
    )
    ancestors, parent = [], v["parent_id"]
    while parent is not None:
        row = await _one(db, "SELECT id, kind, parent_id FROM versions WHERE id = ?", [parent])
        ancestors.insert(0, row)
        parent = row["parent_id"]
    children = await _dicts(
        db, "SELECT id, kind FROM versions WHERE parent_id = ? ORDER BY id", [vid]
    )
    count = (await _one(db, "SELECT count(*) AS n FROM documents WHERE version_id = ?", [vid]))["n"]
    documents = await _dicts(
        db,
        """SELECT d.id, d.ordinal, a.text AS anchor, substr(d.text, 1, 160) AS beginning
           FROM documents d LEFT JOIN anchors a ON a.id = d.anchor_id
           WHERE d.version_id = ? ORDER BY d.ordinal LIMIT ?""",
        [vid, LISTED],
    )
    drops = await _dicts(
        db,
        "SELECT reason, count(*) AS n FROM drops WHERE version_id = ? GROUP BY 1 ORDER BY 2 DESC",
        [vid],
    )
    facts = [
        ("documents", f"{count} (target {v['target_docs']})" if v["target_docs"] else count),
        ("made", _made(v)),
        ("created", v["created"]),
        ("finished", v["finished"] or ""),
        ("wall time", f"{v['wall_seconds'] or 0:.1f} s"),
    ]
    if drops:
        facts.append(("dropped", ", ".join(f"{d['reason']}: {d['n']}" for d in drops)))
    if v["error"]:
        facts.append(("error", v["error"]))
    table = datasette.urls.table(db.name, "documents")
    links = [
        ("its documents (table, searchable)", f"{table}?version_id={vid}"),
        ("its anchors with their document counts", _query(datasette, "anchors", version=vid)),
        ("its documents by length", _query(datasette, "by_length", version=vid)),
    ]
    if v["parent_id"] is not None:
        links.append(
            (
                f"side by side with its parent, version {v['parent_id']}",
                _query(datasette, "side_by_side", a=v["parent_id"], b=vid),
            )
        )
    if drops:
        links.append(("what the filter dropped, and why", _query(datasette, "drops", version=vid)))
    links.append(("its row in the versions table", datasette.urls.row(db.name, "versions", vid)))
    return await _render(
        datasette,
        request,
        VERSION_BODY,
        {
            "title": f"Version {vid} of {v['corpus']}",
            "v": v,
            "ancestors": _linked(datasette, ancestors, VERSION),
            "children": _linked(datasette, children, VERSION),
            "facts": facts,
            "links": links,
            "documents": _linked(datasette, documents, DOCUMENT),
            "count": count,
            "shown": len(documents),
        },
    )


def _made(v: dict) -> str:
    config = json.loads(v["config"] or "{}")
    if "filters" in config:
        return " then ".join(f["name"] for f in config["filters"])
    return f"{v['generator']} {v['model'] or ''}, {v['strategy']}, seed {v['seed']}"


async def document_page(datasette, request):
    db, did, d = await _requested(
        datasette,
        request,
        """SELECT d.*, a.text AS anchor, a.ordinal AS anchor_ordinal, c.name AS corpus,
                  v.generator, v.model, v.strategy, v.seed AS version_seed, v.resolved
           FROM documents d JOIN versions v ON v.id = d.version_id
           JOIN corpora c ON c.id = v.corpus_id
           LEFT JOIN anchors a ON a.id = d.anchor_id WHERE d.id = ?""",
    )
    around = {}
    for name, sql in (
        ("previous", "ordinal < ? ORDER BY ordinal DESC"),
        ("next", "ordinal > ? ORDER BY ordinal"),
    ):
        row = (
            await db.execute(
                f"SELECT id FROM documents WHERE version_id = ? AND {sql} LIMIT 1",
                [d["version_id"], d["ordinal"]],
            )
        ).first()
        around[name] = datasette.urls.path(DOCUMENT.format(row[0])) if row else None
    options = json.loads(d["resolved"] or "{}").get("options", {})
    settings = [
        ("generator", d["generator"]),
        ("model", d["model"]),
        ("strategy", d["strategy"]),
        ("seed", d["seed"] if d["seed"] is not None else d["version_seed"]),
        ("tokens", f"{d['token_count']} generated, {d['prompt_tokens']} in the prompt"),
        ("finish reason", d["finish_reason"]),
        ("created", d["created"]),
        *((f"option {key}", value) for key, value in sorted(options.items())),
    ]
    anchor_href = d["anchor_id"] and _query(datasette, "anchor_documents", anchor=d["anchor_id"])
    return await _render(
        datasette,
        request,
        DOCUMENT_BODY,
        {
            "d": d,
            "title": d["anchor"] or f"Document {did}",
            "paragraphs": paragraphs(d["text"]),
            "settings": [(k, "" if v is None else v) for k, v in settings],
            "version_href": datasette.urls.path(VERSION.format(d["version_id"])),
            "anchor_href": anchor_href,
            **around,
        },
    )


def paragraphs(text: str) -> list[str]:
    """The text's paragraphs: split at blank lines, or at line ends where there are none."""
    text = text.strip()
    parts = [p for p in text.split("\n\n") if p.strip()]
    if len(parts) <= 1:
        parts = text.splitlines()
    return [" ".join(p.split()) for p in parts if p.strip()]


@hookimpl
def register_routes():
    return [
        (r"^/-/zest/version/(?P<id>\d+)$", version_page),
        (r"^/-/zest/document/(?P<id>\d+)$", document_page),
    ]


def _link(datasette, page: str, value) -> Markup:
    return Markup('<a href="{}">{}</a>').format(datasette.urls.path(page.format(value)), value)


@hookimpl
def render_cell(row, value, column, table, datasette):
    """Ids in the canned queries' results link to zest's pages, and so do a version's kind
    and a document's text (shortened) in Datasette's table and row pages."""
    if value is None or value == "":
        return None
    if table == "versions" and column == "kind":
        return Markup('<a href="{}">{}</a>').format(
            datasette.urls.path(VERSION.format(row["id"])), value
        )
    if table == "documents" and column == "text":
        short = value if len(value) <= SNIPPET else value[:SNIPPET] + "…"
        return Markup('{} <a href="{}">read</a>').format(
            short, datasette.urls.path(DOCUMENT.format(row["id"]))
        )
    if table is None:
        if column == "document_id":
            return _link(datasette, DOCUMENT, value)
        if column in ("version_id", "parent_id"):
            return _link(datasette, VERSION, value)
        if column == "children":
            return Markup(", ").join(
                _link(datasette, VERSION, v.strip()) for v in str(value).split(",")
            )
        if column == "anchor_id":
            return Markup('<a href="{}">{}</a>').format(
                _query(datasette, "anchor_documents", anchor=value), value
            )
    return None
