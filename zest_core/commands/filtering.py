"""``zest filter``: a complete version filtered into a new child version."""

from collections import Counter

import click

from ..corpus.filtering import apply_filters, resolve_params
from ..corpus.store import Store
from ..plugin.hookspecs import hookimpl
from . import db_option, option_pairs


@click.command(name="filter")
@click.argument("version")
@click.option(
    "--with",
    "names",
    multiple=True,
    metavar="FILTER",
    help="Filter to apply (repeat; they run in the order given).",
)
@option_pairs(
    "Filter option, e.g. -o threshold=0.9 or -o quality.min_words=40"
    " (see: zest plugins --options).",
    metavar="[FILTER.]KEY=VALUE",
)
@db_option
def filter_(version, names, options, db):
    """Filter a complete VERSION into a new child version that records why each
    dropped document was dropped (see: zest corpora show CHILD)."""
    store = Store(db)
    specs = resolve_params(list(names), options)
    child = apply_filters(store, version, specs)
    v = store.version(child)
    reasons = Counter((d["filter"], d["reason"]) for d in store.drops([child]))
    kept = store.totals(child)["documents"]
    click.echo(
        f"version {child} ({v['corpus']}) from version {v['parent_id']}: kept {kept},"
        f" dropped {sum(reasons.values())} in {v['wall_seconds']:.1f} s"
    )
    for (name, reason), n in sorted(reasons.items()):
        click.echo(f"  {name}: {reason} {n}")


@hookimpl
def register_commands(cli):
    cli.add_command(filter_)
