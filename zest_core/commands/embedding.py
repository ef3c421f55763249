"""``zest embed``, ``zest index`` and ``zest search``: the adapted encoder on your own corpus."""

import json
import time
from pathlib import Path

import click

from .. import console
from ..corpus.store import Store
from ..plugin.hookspecs import hookimpl
from ..search.settings import CANDIDATES, EXPANSION_SEARCH
from . import db_option, option_pairs
from .evaluation import encoder_options
from .reading import reading_options


@click.command(name="embed")
@click.argument("source", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "--context", required=True, help="A complete corpus version id or corpus name, or none."
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output directory: meta.json, context.npz, shard-NNNNN.parquet.",
)
@encoder_options
@click.option(
    "--shard-size",
    type=int,
    default=4096,
    show_default=True,
    help="Documents per Parquet shard (and in memory at once).",
)
@click.option(
    "--passage-tokens",
    type=int,
    help="Documents (a folder, .pdf, .docx, .html, .md): tokens per passage"
    " (default: the encoder's limit).",
)
@click.option(
    "--passage-overlap",
    type=int,
    help="Tokens a passage repeats of the one before (default: an eighth of --passage-tokens).",
)
@reading_options
@db_option
def embed_(
    source,
    context,
    out,
    encoder_name,
    model,
    options,
    shard_size,
    passage_tokens,
    passage_overlap,
    glob,
    strict,
    db,
):
    """Encode a corpus (JSONL with 'text' and optional '_id'/'title', Parquet with those
    columns, or text with a document per line) into Parquet shards of dense vectors and,
    for an encoder with a sparse side, BM25 weights under the context's statistics. A folder
    of documents (or one PDF, DOCX, HTML or Markdown file) is split into passages that keep
    their file and page. Run the same command again to resume after a crash."""
    from ..contexts.api import load_encoder
    from ..search.documents import PassageSettings
    from ..search.shards import embed

    started = time.monotonic()
    encoder = load_encoder(encoder_name, context, model=model, store=Store(db), **options)
    encoder.encoder.progress = False  # one bar over the corpus, not one per batch
    bar = console.progress_bar("embedding")
    task = None

    def on_start(total: int, done: int) -> None:
        nonlocal task
        task = bar.add_task("docs", total=total, completed=done)

    try:
        with bar:
            meta = embed(
                encoder,
                source,
                out,
                shard_size,
                on_start=on_start,
                on_shard=lambda n: bar.update(task, advance=n),
                on_rewrite=lambda why: click.echo(why, err=True),
                passages=PassageSettings(passage_tokens, passage_overlap, glob, strict),
            )
    finally:
        encoder.close()
    read = meta.get("passages")
    what = (
        f"{meta['count']} passages of {read['documents']} documents"
        if read
        else (f"{meta['count']} documents")
    )
    click.echo(
        f"{what} in {len(meta['shards'])} shards under {out}"
        f" (context {meta['context']['label']}); {time.monotonic() - started:.1f} s"
    )


@click.command(name="index")
@click.argument("source", metavar="DIR", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Index directory (default: DIR/index).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Replace an index that zest made there (any other folder is refused).",
)
def index_(source, out, force):
    """Build a search index over the shards that zest embed wrote to DIR."""
    from ..search.indexing import build_index, describe
    from ..search.shards import read_meta

    started = time.monotonic()
    bar = console.progress_bar("indexing")
    with bar:
        task = bar.add_task("docs", total=read_meta(source).get("count"))
        target = build_index(
            source, out, on_shard=lambda n: bar.update(task, advance=n), force=force
        )
    click.echo(f"index {target}: {describe(target)}; {time.monotonic() - started:.1f} s")


@click.command(name="search")
@click.argument("index", type=click.Path(path_type=Path))
@click.argument("queries", nargs=-1, required=True)
@click.option("--top-k", type=int, default=10, show_default=True)
@click.option(
    "--context",
    help="The context you mean (default: the index's); an index built with another is refused.",
)
@click.option("--encoder", "encoder_name", help="The encoder you mean (default: the index's).")
@click.option("--model", help="Encoder weights (default: the index's).")
@option_pairs("Encoder setting you mean (default: the index's).")
@click.option(
    "--candidates",
    type=int,
    default=CANDIDATES,
    show_default=True,
    help="Dense and BM25 candidates per query, each scored exactly.",
)
@click.option(
    "--expansion",
    type=int,
    default=EXPANSION_SEARCH,
    show_default=True,
    help="The HNSW graph's search breadth: raise it for corpora full of near-duplicates"
    " (docs/scale.md).",
)
@click.option(
    "--group-by",
    type=click.Choice(("passage", "document")),
    default="passage",
    show_default=True,
    help="An index of passages: rank them, or the --top-k documents by their best passage.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per query.")
@db_option
def search_(
    index,
    queries,
    top_k,
    context,
    encoder_name,
    model,
    options,
    candidates,
    expansion,
    group_by,
    as_json,
    db,
):
    """Rank the index's documents for each QUERY, with the scores zest eval uses.

    An index of passages (zest embed on documents) names each hit's file and page."""
    from ..contexts.api import load_encoder
    from ..errors import ZestError
    from ..search.documents import search_passages
    from ..search.indexing import SearchIndex, check_queries

    bounds = {"--top-k": top_k, "--candidates": candidates, "--expansion": expansion}
    for flag, value in bounds.items():
        if value < 1:
            raise ZestError(f"{flag} must be at least 1")
    check_queries(queries)  # before the index and the model are loaded
    found = SearchIndex(index, expansion)
    built = found.meta
    if encoder_name and encoder_name != built["encoder"]:  # before any model or store
        raise ZestError(
            f"{index} was built with encoder {built['encoder']!r}, not {encoder_name!r}"
        )
    options = {**built["options"], **options}
    if context:  # the context asked for, from the store: refused unless it is the index's
        encoder = load_encoder(
            built["encoder"], context, model=model or built["model"], store=Store(db), **options
        )
    else:  # the index's own context state (no store needed), with the settings asked
        encoder = found.encoder(model=model, **options)
    try:
        results = search_passages(found, encoder, list(queries), top_k, candidates, group_by)
    finally:
        encoder.close()
    for query, hits in zip(queries, results):
        if as_json:
            key = "documents" if group_by == "document" else "hits"
            click.echo(json.dumps({"query": query, key: _ranked(hits)}))
            continue
        click.echo(query)
        for rank, hit in enumerate(hits, 1):
            click.echo(f"{rank:>4}  {hit['score']:8.4f}  {_where(hit)}")
            for passage in hit.get("hits", ()):  # a document's passages among the hits
                page = f"  (page {passage['page']})" if passage.get("page") else ""
                click.echo(f"{'':>4}  {passage['score']:8.4f}    {passage['id']}{page}")


def _ranked(hits: list[dict]) -> list[dict]:
    return [{"rank": rank, **hit} for rank, hit in enumerate(hits, 1)]


def _where(hit: dict) -> str:
    """A hit's id, with its file and page when it is a passage."""
    if "hits" in hit:
        return hit["file"]
    if "file" not in hit:
        return hit["id"]
    page = f", page {hit['page']}" if hit["page"] is not None else ""
    return f"{hit['id']}  ({hit['file']}{page})"


@hookimpl
def register_commands(cli):
    for command in (embed_, index_, search_):
        cli.add_command(command)
