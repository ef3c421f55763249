"""``zest corpora list | show | export``."""

import json
from pathlib import Path

import click
from rich.table import Table
from rich.text import Text

from .. import console
from ..corpus.export import FORMATS, export
from ..corpus.store import Store
from ..plugin.hookspecs import hookimpl
from . import db_option, not_negative


def _status(store: Store, version: dict) -> str:
    """The status, and for a running version the process writing it."""
    holder = store.lease_holder(version)
    if version["status"] == "running" and not holder:
        # what the next command that writes will record; a read-only open cannot record it
        return "failed (its writer stopped)"
    return f"{version['status']} ({holder})" if holder else version["status"]


@click.command(name="list")
@db_option
def list_(db):
    """All versions: corpus, parent, status, how they were made, size."""
    table = Table(
        "version",
        "corpus",
        "parent",
        "kind",
        "status",
        "generator",
        "model",
        "strategy",
        "seed",
        "documents",
        "created",
    )
    store = Store(db, read_only=True)
    for v in store.versions():
        table.add_row(
            *(str(v[k]) if v[k] is not None else "" for k in ("id", "corpus", "parent_id", "kind")),
            _status(store, v),
            *(
                str(v[k]) if v[k] is not None else ""
                for k in ("generator", "model", "strategy", "seed")
            ),
            f"{v['documents']}/{v['target_docs'] or ''}",
            v["created"],
        )
    console.stdout().print(table)


@click.command()
@click.argument("version")
@click.option("--samples", type=int, default=3, show_default=True, callback=not_negative)
@db_option
def show(version, samples, db):
    """A version's config, provenance, anchors, sample documents and drop reasons."""
    store = Store(db, read_only=True)
    v = store.version(version)
    totals = store.totals(v["id"])
    out = console.stdout()
    out.print(
        Text.assemble(
            (f"version {v['id']}", "bold"),
            f" of corpus {v['corpus']!r}:"
            f" {_status(store, v)}"
            + (f" (parent {v['parent_id']}, {v['kind']})" if v["parent_id"] else ""),
        )
    )
    if v["error"]:
        out.print(f"error: {v['error']}")
    out.print(
        f"generator {v['generator']}, model {v['model']}, strategy {v['strategy']},"
        f" seed {v['seed']}"
    )
    out.print(
        f"documents {totals['documents']}/{v['target_docs']}, tokens"
        f" {totals['completion_tokens']} generated + {totals['prompt_tokens']} prompt,"
        f" wall time {v['wall_seconds']:.1f} s"
    )
    out.print("config: " + json.dumps(v["config"], sort_keys=True))
    out.print("prompt hashes: " + json.dumps(v["prompt_hashes"], sort_keys=True))
    out.print("provenance: " + json.dumps(v["provenance"], sort_keys=True))
    anchors = store.anchors(v["id"])
    if anchors:
        table = Table("#", "anchor", "samples drawn", title=f"{len(anchors)} anchors")
        for a in anchors:
            table.add_row(str(a["ordinal"]), a["text"], str(a["attempts"]))
        out.print(table)
    docs = store.documents(v["id"])
    for doc in docs[:samples]:
        text = doc["text"] if len(doc["text"]) <= 300 else doc["text"][:300] + "…"
        out.print(
            Text.assemble(
                (f"document {doc['ordinal']}", "bold"),
                (f" ({doc['anchor']})" if doc["anchor"] else "") + f": {text}",
            )
        )
    drops = store.drop_counts(v["id"])
    if drops:
        table = Table(
            "filter", "reason", "dropped", "e.g. ordinal", title="documents dropped from the parent"
        )
        for d in drops:
            table.add_row(d["filter"], d["reason"], str(d["n"]), str(d["example"]))
        out.print(table)


@click.command(name="export")
@click.argument("version")
@click.option(
    "--format", "fmt", type=click.Choice(sorted(FORMATS)), default="jsonl", show_default=True
)
@click.option(
    "--output",
    "-o",
    type=click.Path(),
    required=True,
    help="File (jsonl) or directory (beir, hf) to write.",
)
@click.option("--force", is_flag=True, help="Replace an existing export.")
@db_option
def export_(version, fmt, output, force, db):
    """Write a complete version out as JSON Lines, a BEIR corpus or an HF dataset."""
    store = Store(db, read_only=True)
    v = store.require_complete(version)
    path = export(store, v["id"], fmt, Path(output), force=force)
    click.echo(f"wrote {store.totals(v['id'])['documents']} documents to {path}")


@hookimpl
def register_commands(cli):
    group = cli.commands["corpora"]
    group.add_command(list_)
    group.add_command(show)
    group.add_command(export_)
