"""``zest results``: stored evaluation results, and two of them compared query by query."""

import json
from pathlib import Path

import click
from rich.table import Table

from .. import console
from ..corpus.store import Store
from ..errors import ZestError
from ..plugin.hookspecs import hookimpl
from . import db_option

METRICS = (("nDCG@10", "ndcg_at_10"), ("Recall@100", "recall_at_100"))


def result(store: Store, ref: str) -> dict:
    row = store.eval_result(ref)
    if not str(ref).isdigit() or not row:
        raise ZestError(f"no evaluation result '{ref}' in {store.path} (see: zest results)")
    return {**row, "settings": json.loads(row["settings"] or "{}")}


def diff(store: Store, a_ref: str, b_ref: str) -> list[tuple[str, int, object]]:
    """(metric, queries, interval of A minus B) for each metric; refuses different datasets."""
    from ..evaluation.evaluate import query_scores
    from ..evaluation.stats import align, paired_difference

    a, b = result(store, a_ref), result(store, b_ref)
    same = (
        all(a["settings"].get(k) == b["settings"].get(k) for k in ("corpus_sha256", "qrels_sha256"))
        and a["dataset"] == b["dataset"]
    )
    if not same:
        raise ZestError(
            f"results {a['id']} ({a['dataset']}) and {b['id']} ({b['dataset']}) "
            "are on different datasets: only results on the same corpus and "
            "judgements can be paired"
        )
    scores = {row["id"]: query_scores(store, row["id"]) for row in (a, b)}
    for row in (a, b):
        if not scores[row["id"]]:
            raise ZestError(
                f"result {row['id']} has no per-query scores (stored before they "
                "were kept): run its zest eval again"
            )
    out = []
    for label, metric in METRICS:
        queries, x, y = align(*({q: s[metric] for q, s in scores[r["id"]].items()} for r in (a, b)))
        if not queries:
            raise ZestError(f"results {a['id']} and {b['id']} share no scored query")
        out.append((label, len(queries), paired_difference(x, y)))
    return out


@click.group(name="results", invoke_without_command=True)
@db_option
@click.pass_context
def results(ctx, db):
    """List stored evaluation results (zest eval, zest compare, zest experiment)."""
    ctx.obj = db
    if ctx.invoked_subcommand:
        return
    store = Store(db, read_only=True)
    table = Table(
        "id",
        "created",
        "dataset",
        "encoder",
        "context",
        "nDCG@10",
        "Recall@100",
        "queries",
        "identical ids",
    )
    for row in store.eval_results():
        ignored = json.loads(row["settings"] or "{}").get("ignore_identical_ids")
        table.add_row(
            str(row["id"]),
            row["created"],
            row["dataset"],
            row["encoder"],
            row["context"],
            f"{100 * row['ndcg_at_10']:.2f}",
            f"{100 * row['recall_at_100']:.2f}",
            str(row["queries"] or "-"),
            {True: "ignored", False: "kept", None: "-"}[ignored],
        )
    console.stdout().print(table)


@results.command(name="diff")
@click.argument("a")
@click.argument("b")
@db_option
@click.pass_context
def diff_(ctx, a, b, db):
    """Result A minus result B, paired by query: mean difference, 95% bootstrap interval
    (10,000 resamples, fixed seed) and paired randomisation (sign-flip) p-value."""
    for label, n, interval in diff(Store(db or ctx.obj, read_only=True), a, b):
        verdict = "within noise" if interval.covers_zero else "outside noise"
        click.echo(
            f"{label}: {a} - {b} = {interval.format()} over {n} queries"
            f" (95% paired bootstrap; p: paired randomisation): {verdict}"
        )


@results.command(name="report")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def report_(directory):
    """Write a zest experiment report directory again from its own results.csv and
    scores.csv.gz: the statistics of this zest over the stored per-query scores, nothing
    scored and no store needed."""
    from ..evaluation.report import recompute

    files = recompute(directory)
    click.echo(f"report: {', '.join(str(f) for f in files)}")


@hookimpl
def register_commands(cli):
    cli.add_command(results)
