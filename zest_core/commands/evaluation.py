"""``zest eval`` and ``zest context``: retrieval quality per context, and the context cache."""

import functools
import time

import click
from rich.table import Table

from .. import console
from ..corpus.store import Store
from ..plugin import manager as plugins
from ..plugin.hookspecs import hookimpl
from . import db_option, option_pairs, seed_option


def encoder_options(fn):
    """--encoder, --model and -o: which encoder, on which weights, with which settings.

    The options are checked against the encoder's declarations before the command runs, so
    a bad value fails before any dataset is read or model loaded."""

    command = fn

    @functools.wraps(command)
    def checked(*args, encoder_name, options, **kwargs):
        plugins.get_encoder(encoder_name).check_options(options)
        return command(*args, encoder_name=encoder_name, options=options, **kwargs)

    fn = checked
    for option in reversed(
        (
            click.option(
                "--encoder",
                "encoder_name",
                default="hybrid",
                show_default=True,
                help="Encoder plugin (see: zest plugins).",
            ),
            click.option(
                "--model",
                help="Encoder weights: a local folder (default: the "
                "encoder's own, e.g. all-MiniLM-L6-v2).",
            ),
            option_pairs(
                "Encoder option, e.g. -o weight=0.5 -o batch_size=64 (see: zest plugins --options)."
            ),
        )
    ):
        fn = option(fn)
    return fn


def _delta(row: dict, first: dict) -> str:
    """nDCG@10 of this context minus the first one's, paired by query."""
    from ..evaluation.stats import align, paired_difference

    _, a, b = align(
        *({q: s["ndcg_at_10"] for q, s in r["per_query"].items()} for r in (row, first))
    )
    return paired_difference(a, b).format()


def _contexts(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@click.command(name="eval")
@click.option(
    "--dataset",
    required=True,
    type=click.Path(),
    help="BEIR directory: corpus.jsonl, queries.jsonl, qrels/test.tsv.",
)
@encoder_options
@click.option(
    "--context",
    "context_values",
    multiple=True,
    default=("none",),
    show_default=True,
    metavar="CONTEXT",
    help="none, generic (English word statistics, no domain data; generic:N), "
    "real (a seeded sample of the target corpus; real:N, real:all) "
    "or a corpus version; repeat or separate with commas.",
)
@seed_option("Seed of the real-corpus and generic samples.")
@click.option(
    "--ignore-identical-ids/--keep-identical-ids",
    "identical",
    default=None,
    help="Whether a query's own document counts as retrieved (default: ignored "
    "when some judged query id is also a corpus id).",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Refuse qrels that name documents missing from corpus.jsonl (default: "
    "drop them with a warning, as BEIR's loader does).",
)
@click.option(
    "--tuned",
    is_flag=True,
    help="Use each version context with the settings zest tune chose for it.",
)
@db_option
def eval_(
    dataset, encoder_name, model, options, context_values, seed, identical, strict, tuned, db
):
    """Retrieval quality (nDCG@10, Recall@100) of an encoder on a BEIR dataset, once per
    context; the corpus is encoded once and cached."""
    from ..evaluation.evaluate import evaluate_contexts
    from ..evaluation.tuning import tuned_groups

    started = time.monotonic()
    store = Store(db)
    contexts = _contexts(context_values)
    groups = (
        tuned_groups(store, contexts, encoder_name, model, options)
        if tuned
        else [(options, contexts)]
    )
    rows = [
        row
        for group_options, group in groups
        for row in evaluate_contexts(
            store,
            dataset,
            encoder_name,
            group,
            model=model,
            seed=seed,
            progress=console.stderr.is_terminal,
            ignore_identical_ids=identical,
            strict=strict,
            note=lambda line: click.echo(f"note: {line}"),
            **group_options,
        )
    ]
    for group_options, group in groups if tuned else ():
        click.echo(
            f"{', '.join(group)}: "
            + (", ".join(f"{k}={v}" for k, v in sorted(group_options.items())) or "the defaults")
        )
    first = rows[0]
    how = (
        "reused from the cache"
        if first["corpus_cached"]
        else f"encoded in {first['encode_seconds']:.1f} s and cached"
    )
    click.echo(f"corpus embeddings: {how}")
    table = Table(
        "context",
        "nDCG@10",
        "Recall@100",
        "nDCG@10 vs first [95% CI]",
        "context cache",
        "seconds",
        title=f"{encoder_name} on {dataset}",
    )
    for row in rows:
        table.add_row(
            row["label"],
            f"{100 * row['ndcg_at_10']:.2f}",
            f"{100 * row['recall_at_100']:.2f}",
            "-" if row is first else _delta(row, first),
            "-" if row["context"] == "none" else "reused" if row["context_cached"] else "built",
            f"{row['seconds']:.1f}",
        )
    console.stdout().print(table)
    click.echo(
        f"total {time.monotonic() - started:.1f} s;"
        f" results stored as eval_results {', '.join(str(r['id']) for r in rows)}"
    )


@click.command(name="context")
@click.argument("version")
@encoder_options
@db_option
def context_(version, encoder_name, model, options, db):
    """Derive what an encoder needs from corpus VERSION (CDE stage-1 vectors, hybrid
    statistics) and cache it, so that evaluations with this context start at once."""
    from ..evaluation.encoding import context_state, make_encoder, resolve_context

    store = Store(db)
    encoder = make_encoder(encoder_name, model, **options)
    encoder.progress = console.stderr.is_terminal
    try:
        context = resolve_context(store, version, encoder)
        started = time.monotonic()
        _, cached = context_state(store, encoder, context)
    finally:
        encoder.close()
    click.echo(
        f"{encoder_name} context from {context.label}: "
        + (
            "already cached"
            if cached
            else f"built and cached in {time.monotonic() - started:.1f} s"
        )
    )


@hookimpl
def register_commands(cli):
    cli.add_command(eval_)
    cli.add_command(context_)
