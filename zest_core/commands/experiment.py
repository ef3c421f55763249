"""``zest experiment FILE.toml`` and ``zest exemplars pick``."""

import sys
import time
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .. import console
from ..corpus.store import Store
from ..plugin.hookspecs import hookimpl
from . import db_option, k_option, selection_option
from .reading import reading_options


class _Bars:
    """Two bars over the whole grid, documents to generate and results to score, and a line
    saying what runs now."""

    def __init__(self):
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console.stderr,
            disable=not console.stderr.is_terminal,
        )
        self.generated = self.scored = 0

    def start(self, documents: int, evaluations: int) -> None:
        self.totals = (documents, evaluations)
        self.docs = self.bar.add_task("documents to generate", total=documents)
        self.evals = self.bar.add_task("contexts to score", total=evaluations)
        self.now = self.bar.add_task("", total=None)
        self.bar.start()

    def step(self, what: str) -> None:
        self.bar.update(self.now, description=what)
        if self.bar.disable:  # a log, not a terminal: a line per step, so hours of work show
            click.echo(
                f"{time.strftime('%H:%M:%S')} {what} ({self.generated}/{self.totals[0]} "
                f"documents, {self.scored}/{self.totals[1]} scored)",
                err=True,
            )

    def document(self, doc: dict) -> None:
        self.generated += 1
        self.bar.update(self.docs, advance=1)

    def evaluated(self) -> None:
        self.scored += 1
        self.bar.update(self.evals, advance=1)

    def stop(self) -> None:
        self.bar.stop()


@click.command(name="experiment")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--report",
    type=click.Path(file_okay=False),
    help="Report directory (default: [experiment] report, else reports/NAME beside the file).",
)
@click.option(
    "--dataset",
    "datasets",
    multiple=True,
    metavar="NAME",
    help="Run only this [[dataset]] of the file (repeatable); the others still supply "
    "other-domain exemplars. The report says which part it covers.",
)
@click.option(
    "--context",
    "contexts",
    multiple=True,
    metavar="SPEC",
    help="Run only this context of [experiment] contexts (repeatable). What a part stores "
    "is reused when the whole grid runs.",
)
@db_option
def experiment(file, report, datasets, contexts, db):
    """Run the grid of FILE.toml (datasets x contexts x ablations x seeds x encoders),
    reusing whatever the store already holds, and write a report directory."""
    from ..experiment import run as exp
    from ..experiment.grid import load
    from ..experiment.report import write

    grid = load(file, report, datasets, contexts)
    store = Store(db)
    started, notes, bars = time.monotonic(), [], _Bars()
    try:
        records = exp.run(grid, store, bars, notes.append)
    except KeyboardInterrupt:
        bars.stop()
        click.echo("interrupted; run the same command again to continue", err=True)
        sys.exit(130)
    finally:
        bars.stop()
    reused = sum(r["reused"] for r in records)
    files = write(
        grid.report,
        grid,
        records,
        {
            "seconds": time.monotonic() - started,
            "generated": bars.generated,
            "scored": len(records) - reused,
            "reused": reused,
            "notes": notes,
        },
    )
    for line in sorted(set(notes)):
        click.echo(f"note: {line}")
    click.echo(
        f"{len(records)} results ({reused} reused), {bars.generated} documents "
        f"generated; report: {', '.join(str(f) for f in files)}"
    )


@click.group(name="exemplars")
def exemplars():
    """Choose exemplar documents."""


@exemplars.command(name="pick")
@click.argument("pool", nargs=-1, required=True, type=click.Path())
@reading_options
@k_option("Exemplars to choose.")
@selection_option(
    "--method",
    "diverse",
    "random: a seeded sample; diverse: k-center (farthest-point) on the "
    "dense encoder's vectors; central: nearest the pool's centroid.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of random, and of diverse's first pick.",
)
@click.option("--model", help="Dense encoder weights (default: all-MiniLM-L6-v2).")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="Exemplar file to write (JSONL: title, text, source).",
)
@db_option
def pick_(pool, glob, strict, k, method, seed, model, output, db):
    """Choose K exemplars from POOL (files or folders of documents, as --exemplars
    reads them) and write them to an exemplar file for zest run."""
    import json

    from ..contexts.encoding import dense_embedder
    from ..corpus.exemplars import read_exemplars
    from ..corpus.runconfig import check_seed
    from ..corpus.selection import pick

    check_seed(seed)  # before the pool is read or the encoder loaded
    docs = read_exemplars(list(pool), glob, strict)
    chosen = pick(docs, k, method, seed, dense_embedder(Store(db), model))
    Path(output).write_text("".join(json.dumps(d) + "\n" for d in chosen), encoding="utf-8")
    click.echo(f"{len(chosen)} of {len(docs)} documents ({method}) written to {output}")


@hookimpl
def register_commands(cli):
    cli.add_command(experiment)
    cli.add_command(exemplars)
