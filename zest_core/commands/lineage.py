"""``zest corpora log | diff | drops | rm``: versions as a lineage tree."""

import json
from collections import Counter

import click

from ..corpus.store import Store
from ..errors import ZestError
from ..plugin.hookspecs import hookimpl
from . import db_option, not_negative


def _made(version: dict, drops: Counter) -> str:
    """How a version was made, in one line."""
    if version["kind"] == "filter":
        steps = " -> ".join(
            f["name"] + "(" + ", ".join(f"{k}={v}" for k, v in f["settings"].items()) + ")"
            for f in version["config"].get("filters", [])
        )
        reasons = ", ".join(f"{reason} {n}" for reason, n in drops.most_common())
        return f"{steps}; dropped {sum(drops.values())}" + (f" ({reasons})" if reasons else "")
    return (
        f"{version['generator']} {version['model']}, {version['strategy']}, seed {version['seed']}"
    )


def _snippet(text: str, width: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _ancestors(store: Store, version_id: int) -> list[int]:
    """This version and its parents, up to the root."""
    chain = []
    while version_id is not None:
        chain.append(version_id)
        version_id = store.version(version_id)["parent_id"]
    return chain


@click.command()
@click.argument("corpus", required=False)
@db_option
def log(corpus, db):
    """The lineage tree of every corpus (or one): versions, parents, sizes, how each
    was made."""
    store = Store(db, read_only=True)
    rows = {v["id"]: v for v in store.versions() if corpus in (None, v["corpus"])}
    if corpus and not rows:
        raise ZestError(f"no corpus named '{corpus}' in {store.path}")
    drops = Counter()
    for d in store.drops(rows):
        drops[d["version_id"], d["reason"]] += 1
    kids: dict = {}
    for v in rows.values():
        kids.setdefault(v["parent_id"] if v["parent_id"] in rows else None, []).append(v)

    def show(v, depth):
        mine = Counter({reason: n for (vid, reason), n in drops.items() if vid == v["id"]})
        click.echo(
            f"{'   ' * (depth - 1)}{'└─ ' if depth else ''}{v['id']} {v['kind']}"
            f" {v['status']} {v['documents']}/{v['target_docs'] or '?'} docs,"
            f" {v['created']}: {_made(store.version(v['id']), mine)}"
        )
        for child in kids.get(v["id"], []):
            show(child, depth + 1)

    for name in sorted({v["corpus"] for v in rows.values()}):
        click.echo(name)
        for root in kids.get(None, []):
            if root["corpus"] == name:
                show(root, 0)


@click.command()
@click.argument("a")
@click.argument("b")
@click.option("--samples", type=int, default=3, show_default=True, callback=not_negative)
@click.option("--json", "as_json", is_flag=True, help="Print the whole diff as JSON.")
@db_option
def diff(a, b, samples, as_json, db):
    """Documents added and removed from version A to version B (by content), with the
    drop reason of each removed one when a filter between them recorded it."""
    store = Store(db, read_only=True)
    va, vb = store.version(a), store.version(b)
    docs_a, docs_b = store.documents(va["id"]), store.documents(vb["id"])
    left = Counter(d["content_hash"] for d in docs_a)
    right = Counter(d["content_hash"] for d in docs_b)
    path = _ancestors(store, vb["id"])
    between = path[: path.index(va["id"])] if va["id"] in path else []
    reasons = {
        d["ordinal"]: f"{d['filter']}: {d['reason']} ({d['detail']})" for d in store.drops(between)
    }

    def only(docs, extra, why):
        picked = []
        for doc in docs:
            if extra[doc["content_hash"]] > 0:
                extra[doc["content_hash"]] -= 1
                picked.append(
                    {
                        "ordinal": doc["ordinal"],
                        "text": doc["text"],
                        "reason": why.get(doc["ordinal"]),
                    }
                )
        return picked

    removed, added = only(docs_a, left - right, reasons), only(docs_b, right - left, {})
    if as_json:
        click.echo(
            json.dumps(
                {
                    "a": va["id"],
                    "b": vb["id"],
                    "a_documents": len(docs_a),
                    "b_documents": len(docs_b),
                    "added": added,
                    "removed": removed,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    click.echo(
        f"version {va['id']} ({len(docs_a)} documents) -> version {vb['id']}"
        f" ({len(docs_b)} documents): {len(added)} added, {len(removed)} removed,"
        f" {len(docs_b) - len(added)} in both"
    )
    for label, rows in (("removed", removed), ("added", added)):
        for row in rows[:samples]:
            why = f" [{row['reason']}]" if row["reason"] else ""
            click.echo(f"  {label} {row['ordinal']}{why}: {_snippet(row['text'])}")


@click.command()
@click.argument("version")
@click.option("--filter", "filter_name", help="Only the drops of this filter.")
@click.option("--reason", help="Only the drops for this reason, e.g. near-duplicate.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@db_option
def drops(version, filter_name, reason, as_json, db):
    """Every document a filter version left out of its parent, and why."""
    store = Store(db, read_only=True)
    v = store.version(version)
    if v["kind"] != "filter":
        raise ZestError(f"version {v['id']} is a {v['kind']} version, not a filter version")
    for row in store.drops([v["id"]]):
        if filter_name not in (None, row["filter"]) or reason not in (None, row["reason"]):
            continue
        if as_json:
            click.echo(
                json.dumps(
                    {k: row[k] for k in ("ordinal", "filter", "reason", "detail", "text")},
                    ensure_ascii=False,
                )
            )
        else:
            click.echo(
                f"{row['ordinal']}  {row['filter']}: {row['reason']} ({row['detail']})"
                f"  {_snippet(row['text'], 80)}"
            )


@click.command(name="rm")
@click.argument("version")
@click.option("--recursive", is_flag=True, help="Also remove the versions derived from it.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@db_option
def rm(version, recursive, yes, db):
    """Delete a version: its documents, anchors, exemplars and drop records."""
    store = Store(db)
    v = store.version(version)
    below = store.descendants(v["id"])
    if below and not recursive:
        raise ZestError(
            f"version {v['id']} has derived versions"
            f" {', '.join(map(str, sorted(below)))}; add --recursive to remove"
            " them too"
        )
    doomed = [*below, v["id"]]
    count = sum(store.totals(i)["documents"] for i in doomed)
    if not yes and not _confirmed(
        f"Remove version{'s' if len(doomed) > 1 else ''}"
        f" {', '.join(map(str, sorted(doomed)))} of corpus {v['corpus']!r}"
        f" ({count} documents)?"
    ):
        raise ZestError("not confirmed: nothing removed (add --yes to remove without asking)")
    store.delete_versions(doomed)
    click.echo(
        f"removed version{'s' if len(doomed) > 1 else ''}"
        f" {', '.join(map(str, sorted(doomed)))} ({count} documents)"
    )


def _confirmed(question: str) -> bool:
    """The answer to ``question``; no answer (stdin closed) is no. A Ctrl-C stays an
    interrupt: click turns both into ``Abort``, told apart by the EOFError behind it."""
    try:
        return click.confirm(question)
    except click.Abort as e:
        if not isinstance(e.__context__, EOFError):
            raise
        click.echo()  # end the prompt's line
        return False


@hookimpl
def register_commands(cli):
    group = cli.commands["corpora"]
    group.add_command(log)
    group.add_command(diff)
    group.add_command(drops)
    group.add_command(rm)
