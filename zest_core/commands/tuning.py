"""``zest tune``: encoder settings chosen on synthetic queries (zest_core/tuning.py)."""

import click
from rich.table import Table

from .. import console, supervisor
from ..corpus.store import Store
from ..plugin.hookspecs import hookimpl
from . import db_option, seed_option
from .evaluation import encoder_options


@click.command(name="tune")
@click.argument("version")
@encoder_options
@click.option(
    "--metric",
    type=click.Choice(["mrr", "ndcg@10"]),
    default="mrr",
    show_default=True,
    help="What each synthetic query finding its document scores.",
)
@click.option("--generator", help="Generator of the queries (default: the version's).")
@click.option("--generator-model", help="Its model (default: the version's).")
@click.option(
    "--templates",
    type=click.Path(),
    help="Query template TOML (default: zest_core/templates/query.toml).",
)
@seed_option("Query sampling seed.")
@db_option
def tune_(
    version,
    encoder_name,
    model,
    options,
    metric,
    generator,
    generator_model,
    templates,
    seed,
    db,
):
    """Choose encoder settings for corpus VERSION as its context: the generator writes
    one query per document (stored, written once), and the grid point under which each
    query best finds its own document within VERSION is stored for zest eval --tuned."""
    from ..evaluation.tuning import tune

    store = Store(db)
    ref = store.require_complete(version)["id"]
    write_missing_queries(store, ref, generator, generator_model, seed, templates)
    with console.progress_bar("searching the grid") as bar, supervisor.stage("tuning (zest tune)"):
        task = bar.add_task("grid", total=None)
        result = tune(
            store,
            ref,
            encoder_name,
            model,
            metric,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
            **options,
        )
    keys = list(result["settings"])
    table = Table(
        *keys,
        metric,
        title=(
            f"{encoder_name} on version {ref}: {result['queries']} synthetic queries over"
            f" {result['documents']} documents (best 5)"
        ),
    )
    for point in result["top"]:
        table.add_row(*(str(point[k]) for k in keys), f"{point['score']:.4f}")
    console.stdout().print(table)
    chosen = ", ".join(f"{k}={v}" for k, v in result["settings"].items())
    defaults = ", ".join(f"{k}={v}" for k, v in result["defaults"].items())
    click.echo(
        f"chosen {chosen} ({metric} {result['score']:.4f}; the defaults {defaults}"
        f" score {result['default_score']:.4f}); stored as tuning {result['id']},"
        f" used by: zest eval --context {ref} --encoder {encoder_name} --tuned"
    )


def write_missing_queries(
    store: Store, version_id: int, generator, generator_model, seed: int, templates
) -> None:
    """Write the synthetic queries VERSION still lacks (one per document), with a progress
    bar, using its own generator unless another is named: for zest tune and zest adapt."""
    from ..evaluation.tuning import missing_queries, version_generator, write_queries

    todo = len(missing_queries(store, version_id))
    if not todo:
        return
    gen = version_generator(store, version_id, generator, generator_model)
    try:
        with console.progress_bar("writing queries") as bar:
            task = bar.add_task("queries", total=todo)
            write_queries(
                store,
                version_id,
                gen,
                seed=seed,
                templates=templates,
                on_query=lambda _: bar.advance(task),
            )
    finally:
        gen.close()
    click.echo(f"wrote {todo} synthetic queries with {gen.name} ({gen.model_id})")


@hookimpl
def register_commands(cli):
    cli.add_command(tune_)
