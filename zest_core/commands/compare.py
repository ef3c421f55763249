"""``zest compare``: corpus versions side by side (how they were made, what they cost, how
varied they are), and optionally how well each serves an encoder as context."""

import json

import click
from rich.table import Table

from .. import console
from ..corpus.compare import differing_options, version_metrics
from ..corpus.store import Store
from ..plugin.hookspecs import hookimpl
from . import db_option
from .evaluation import encoder_options

# (label, key, format) of each row of the table; None values print as "-".
ROWS = (
    ("corpus", "corpus", "{}"),
    ("status", "status", "{}"),
    ("generator", "generator", "{}"),
    ("model", "model", "{}"),
    ("documents", "documents", "{}"),
    ("target documents", "target_docs", "{}"),
    ("tokens generated", "completion_tokens", "{}"),
    ("prompt tokens", "prompt_tokens", "{}"),
    ("wall time (s)", "wall_seconds", "{:.1f}"),
    ("tokens/s", "tokens_per_second", "{:.1f}"),
    ("anchors", "anchors", "{}"),
    ("anchor diversity", "anchor_diversity", "{:.3f}"),
    ("distinct-1", "distinct_1", "{:.3f}"),
    ("distinct-2", "distinct_2", "{:.3f}"),
    ("exemplar vocabulary overlap", "exemplar_vocabulary_overlap", "{:.3f}"),
    ("mean document words", "mean_document_words", "{:.1f}"),
    ("nDCG@10 (%)", "ndcg_at_10", "{:.2f}"),
    ("Recall@100 (%)", "recall_at_100", "{:.2f}"),
)


@click.command()
@click.argument("versions", nargs=-1, required=True)
@click.option(
    "--dataset",
    type=click.Path(),
    help="BEIR directory: add the retrieval score of each version as context.",
)
@encoder_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per version.")
@db_option
def compare(versions, dataset, encoder_name, model, options, as_json, db):
    """Corpus VERSIONS side by side: generator and model, documents, tokens, wall time,
    tokens/s, anchor diversity, distinct-n, exemplar vocabulary overlap, document length;
    with --dataset, nDCG@10 and Recall@100 of the encoder using each version as context.
    """
    store = Store(db, read_only=not dataset)  # with --dataset it stores the scores
    rows = [version_metrics(store, ref) for ref in versions]
    if dataset:
        from ..contexts.scoring import evaluate_contexts

        scores = evaluate_contexts(
            store,
            dataset,
            encoder_name,
            [str(r["version"]) for r in rows],
            model=model,
            progress=console.stderr.is_terminal,
            **options,
        )
        for row, score in zip(rows, scores):
            row.update(
                encoder=encoder_name,
                ndcg_at_10=100 * score["ndcg_at_10"],
                recall_at_100=100 * score["recall_at_100"],
            )
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    table = Table(
        "",
        *(f"version {r['version']}" for r in rows),
        title=f"retrieval with encoder {encoder_name} on {dataset}" if dataset else None,
    )
    for label, key, fmt in ROWS:
        if any(key in r for r in rows):
            table.add_row(label, *("-" if r.get(key) is None else fmt.format(r[key]) for r in rows))
    if len(rows) > 1 and any(shown := differing_options(rows)):
        table.add_row("options that differ (as run)", *shown)
    console.stdout().print(table)


@hookimpl
def register_commands(cli):
    cli.add_command(compare)
