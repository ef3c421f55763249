"""``zest corpora fidelity``: how close a synthetic version comes to a real sample."""

import json

import click
from rich.table import Table

from .. import console
from ..corpus.store import Store
from ..errors import ZestError
from ..plugin.hookspecs import hookimpl
from . import db_option, seed_option


def _sample(value: str | None) -> int | str | None:
    """--sample: a count, 'all', or nothing (as many as the version has)."""
    if value in (None, "all"):
        return value
    if not value.isdigit() or int(value) < 2:
        raise ZestError(f"--sample {value}: expected a count of at least 2, or all")
    return int(value)


@click.command(name="fidelity")
@click.argument("version")
@click.option(
    "--against",
    required=True,
    type=click.Path(),
    help='Real corpus: a BEIR directory or a .jsonl file (a "text" per line).',
)
@click.option(
    "--sample",
    metavar="N|all",
    help="Real documents to sample (default: as many as VERSION has).",
)
@seed_option("Seed of the real sample.")
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="How many of the real sample's most informative terms to look for.",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    help="Write a PNG: IDF real vs synthetic, and rank-frequency curves.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@db_option
def fidelity_(version, against, sample, seed, top, plot, as_json, db):
    """Compare corpus VERSION with a real sample: word-distribution divergence, coverage
    of informative terms, IDF correlation, diversity (see docs/context-quality.md)."""
    from ..evaluation.fidelity import version_fidelity

    report = version_fidelity(
        Store(db, read_only=True),
        version,
        against,
        sample=_sample(sample),
        seed=seed,
        top=top,
        plot=plot,
    )
    if as_json:
        click.echo(json.dumps(report, indent=2, sort_keys=True))
        return
    table = Table(
        "measure",
        "synthetic",
        "real",
        title=(f"version {report['version']} ({report['corpus']}) against {against}"),
    )
    table.add_row("documents", *map(str, report["documents"].values()))
    for key in ("distinct_2", "document_diversity"):
        table.add_row(key.replace("_", " "), *(_fmt(v) for v in report[key].values()))
    for key, label in (
        ("js_divergence", "Jensen-Shannon divergence (base 2)"),
        (
            "informative_coverage",
            f"coverage of the top {report['informative_terms']} real terms",
        ),
        ("idf_spearman", f"IDF Spearman ({report['shared_terms']} shared)"),
        ("anchor_diversity", "anchor diversity"),
    ):
        table.add_row(label, _fmt(report[key]), "")
    console.stdout().print(table)
    if plot:
        click.echo(f"plot written to {plot}")


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}"


@hookimpl
def register_commands(cli):
    cli.commands["corpora"].add_command(fidelity_)
