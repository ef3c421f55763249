"""``zest adapt`` and ``zest models``: the dense encoder fine-tuned on a version's synthetic
pairs (zest_core/evaluation/adapt.py), and the registry of the models it made."""

import json
import time

import click
from rich.table import Table

from .. import console, supervisor
from ..corpus.store import Store
from ..errors import ZestError
from ..evaluation.adapt import Adaptation
from ..plugin.hookspecs import hookimpl
from . import db_option, seed_bounds
from .tuning import write_missing_queries

METAVARS = {int: "INTEGER", float: "FLOAT", str: "TEXT"}


def declared_options(fn):
    """A click option for each of ``Adaptation.options`` (``learning_rate`` is
    ``--learning-rate``), with its help and default; the values are checked by the same
    declarations (types, bounds, NaN) before any work."""
    for key, spec in reversed(list(Adaptation.options.items())):
        flag = "--" + key.replace("_", "-")
        if spec.type is bool:
            option = click.option(
                f"{flag}/--no-{key.replace('_', '-')}",
                key,
                default=spec.default,
                show_default=True,
                help=spec.help,
            )
        else:
            option = click.option(
                flag,
                key,
                default=str(spec.default),
                show_default=True,
                metavar="|".join(spec.choices) if spec.choices else METAVARS[spec.type],
                help=spec.help,
            )
        fn = option(fn)
    return fn


@click.command(name="adapt")
@click.argument("version")
@click.option(
    "--model",
    help="Base sentence-transformers model to fine-tune: a local folder or adapted:ID"
    " (default: all-MiniLM-L6-v2, the dense encoder's).",
)
@declared_options
@click.option(
    "--models-dir",
    type=click.Path(file_okay=False),
    help="Where the model folder goes (default: models/ beside the database, e.g. in the"
    " user data directory).",
)
@click.option("--generator", help="Generator of missing queries (default: the version's).")
@click.option("--generator-model", help="Its model (default: the version's).")
@click.option(
    "--templates",
    type=click.Path(),
    help="Query template TOML (default: zest_core/templates/query.toml).",
)
@click.option(
    "--query-seed",
    type=int,
    default=0,
    show_default=True,
    callback=seed_bounds,
    help="Seed of missing queries (zest tune's --seed).",
)
@db_option
def adapt_(
    version,
    model,
    models_dir,
    generator,
    generator_model,
    templates,
    query_seed,
    db,
    **given,
):
    """Fine-tune the dense encoder on corpus VERSION's (synthetic query, document) pairs:
    the queries are those zest tune uses (written once if missing), the model lands in a
    folder zest owns, registered for zest models and --model adapted:ID. Run the same
    command again after a kill: it restarts, or reuses the finished model."""
    from ..evaluation import adapt
    from ..evaluation.encoding import make_encoder

    started = time.monotonic()
    options = adapt.check_options(given)
    store = Store(db)
    v = store.require_complete(version)
    if not store.documents(v["id"]):
        raise ZestError(f"version {v['id']} has no documents to adapt on")
    make_encoder("dense", model)  # the base model exists (no weights loaded yet)
    write_missing_queries(store, v["id"], generator, generator_model, query_seed, templates)
    with console.progress_bar("training") as bar, supervisor.stage("training (zest adapt)"):
        task = bar.add_task("steps", total=None)

        def on_start(info):
            dropped = f", {info['dropped']} dropped by the round trip" if info["dropped"] else ""
            anchors = f", {info['anchor_pairs']} anchor pairs" if info["anchor_pairs"] else ""
            click.echo(
                f"adapted model {info['id']}: training on {info['pairs']} pairs"
                f" ({info['queries']} queries{dropped}{anchors})",
                err=True,
            )

        row = adapt.adapt(
            store,
            v["id"],
            model,
            directory=models_dir,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            on_start=on_start,
            **options,
        )
    how = (
        "already trained on the same inputs; reused"
        if row["reused"]
        else f"trained in {row['wall_seconds']:.1f} s"
    )
    click.echo(
        f"adapted model {row['id']} ({adapt.describe(row)}): {row['pairs']} pairs, training"
        f" loss {row['training_loss']:.4f}, {how}; fingerprint {row['fingerprint'][:16]};"
        f" {row['path']}"
    )
    click.echo(
        f"use: zest eval --encoder dense --model adapted:{row['id']} ...;"
        f" total {time.monotonic() - started:.1f} s"
    )


@click.group(name="models", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model.")
@db_option
@click.pass_context
def models_(ctx, as_json, db):
    """The encoders zest adapt trained: id (for --model adapted:ID), status, what they were
    trained on, and where they are."""
    if ctx.invoked_subcommand is not None:
        return
    from ..evaluation import adapt

    store = Store(db, read_only=True)  # a listing: a mistyped --db is an error, not a new file
    rows = adapt.models(store)
    if as_json:
        for row in rows:
            click.echo(json.dumps({k: v for k, v in row.items() if not k.startswith("lease")}))
        return
    table = Table(
        "id",
        "status",
        "trained on",
        "base",
        "pairs",
        "loss",
        "seconds",
        "fingerprint",
        "path",
        title=f"adapted models in {store.path}",
    )
    for row in rows:
        holder = Store.lease_holder(row)
        table.add_row(
            str(row["id"]),
            row["status"] + (f" ({holder})" if holder else ""),
            adapt.describe(row),
            row["base_model"],
            str(row["pairs"] or ""),
            f"{row['training_loss']:.4f}" if row["training_loss"] is not None else "",
            f"{row['wall_seconds']:.1f}" if row["wall_seconds"] is not None else "",
            (row["fingerprint"] or "")[:16],
            row["path"] or (row["error"] or ""),
        )
    console.stdout().print(table)


@models_.command(name="rm")
@click.argument("model_id", metavar="ID", type=int)
@db_option
def rm_(model_id, db):
    """Delete adapted model ID: its registry row and its folder."""
    from ..evaluation import adapt

    row = adapt.remove(Store(db), model_id)
    click.echo(f"removed adapted model {model_id}" + (f" ({row['path']})" if row["path"] else ""))


@hookimpl
def register_commands(cli):
    cli.add_command(adapt_)
    cli.add_command(models_)
