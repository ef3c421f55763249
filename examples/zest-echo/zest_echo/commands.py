"""The ``zest echo-stats`` command: how much of a corpus version is copied from its exemplars."""

import click

from zest_core import Store

from .generator import sentences


@click.command(name="echo-stats")
@click.argument("version")
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    envvar="ZEST_DB",
    help="SQLite database file (default: as for every zest command).",
)
def echo_stats(version, db):
    """Share of VERSION's sentences that are copied verbatim from its exemplars."""
    store = Store(db)
    v = store.version(version)  # an unknown version is a ZestError: one clear message
    exemplars = store.exemplars(v["id"])
    known = {
        s for ex in exemplars for part in (ex["title"] or "", ex["text"]) for s in sentences(part)
    }
    found = [s for doc in store.documents(v["id"]) for s in sentences(doc["text"])]
    copied = sum(s in known for s in found)
    share = copied / len(found) if found else 0.0
    click.echo(
        f"version {v['id']}: {copied} of {len(found)} sentences ({share:.0%})"
        " copied from its exemplars"
    )
