"""The ``zest`` command line."""

import contextlib
import os
import signal
import sqlite3
import sys
import time
import traceback
from pathlib import Path

import click
from click.core import ParameterSource
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import __version__, console, supervisor
from .commands import db_option, exemplars_option, k_option, option_pairs, selection_option
from .commands.reading import reading_options
from .corpus import pipeline, runconfig
from .corpus.exemplars import read_exemplars
from .corpus.store import Store
from .errors import Interrupted, ZestError
from .plugin import manager as plugins


class ZestGroup(click.Group):
    """Turns a ZestError anywhere below into one clear message and exit status 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ZestError as e:
            raise _error(str(e), e) from None
        except OSError as e:  # a user path: missing directory, disk full, read-only file
            where = f": {e.filename}" if e.filename else ""
            raise _error(f"{e.strerror or e}{where}", e) from None
        except sqlite3.Error as e:  # disk full or a read-only database, found mid-write
            read_only = (getattr(e, "sqlite_errorname", None) or "").startswith("SQLITE_READONLY")
            what = "is read-only" if read_only else "failed"
            raise _error(f"the zest database {what}: {e}", e) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own: usage errors, --help, a prompt's Ctrl-C
        except Exception as e:  # a plugin's own bug: one line naming it; zest's: the traceback
            plugin = _plugin_of(e)
            if plugin is None:
                raise
            hint = "zest --debug or ZEST_DEBUG=1 shows the traceback; "
            if _debug(ctx):
                traceback.print_exception(e, file=sys.stderr)
                hint = ""
            message = f"the plugin {plugin} failed: {type(e).__name__}: {e}"
            raise _error(f"{message} ({hint}report it to its authors)", e) from None


def _debug(ctx: click.Context) -> bool:
    """``zest --debug`` or ``ZEST_DEBUG=1``: a plugin's failure with its traceback."""
    return bool(ctx.find_root().params.get("debug"))


def _plugin_of(e: BaseException) -> str | None:
    """The plugin whose code raised ``e`` (the innermost frame in a loaded plugin's files;
    zest_core's own modules are not counted), as "NAME (package P)", or None."""
    roots = {}
    for name, module in plugins.pm.list_name_plugin():
        file = getattr(module, "__file__", None)
        if file and not getattr(module, "__name__", "").startswith("zest_core"):
            root = os.path.dirname(file) if os.path.basename(file) == "__init__.py" else file
            roots[os.path.realpath(root)] = name
    for frame in reversed(traceback.extract_tb(e.__traceback__)):
        path = os.path.realpath(frame.filename)
        for root, name in roots.items():
            if path == root or path.startswith(root + os.sep):
                package = {r["name"]: r["package"] for r in plugins.plugin_info()}.get(name)
                return f"{name} (package {package})" if package else name
    return None


def _error(message: str, e: BaseException) -> click.ClickException:
    """The one ``Error:`` line; for a version left unfinished (``_generate`` names it on the
    exception), with the command that continues it, as after Ctrl-C."""
    version_id = getattr(e, "resumable_version", None)
    if version_id is not None:
        command = supervisor.resume_command(version_id, getattr(e, "resumable_db", None))
        message += f"; version {version_id} is unfinished. Continue it with: {command}"
    return click.ClickException(message)


@click.group(cls=ZestGroup)
@click.version_option(__version__, prog_name="zest")
@click.option(
    "--debug",
    is_flag=True,
    envvar="ZEST_DEBUG",
    help="Show the traceback of a plugin's failure (also: ZEST_DEBUG=1).",
)
@click.pass_context
def cli(ctx, debug):
    """zest: domain-adapted embeddings from a few exemplars and a local LLM."""
    # A plugin that failed to load: `zest plugins` (whose job is to show them) fails with
    # one Error: line; other commands warn and go on without it.
    if problems := plugins.problems():
        if ctx.invoked_subcommand == "plugins":
            raise ZestError("; ".join(problems))
        for problem in problems:
            click.echo(f"Warning: {problem}", err=True)


@cli.command()
@exemplars_option
@reading_options
@k_option("Exemplars to use; more are sampled down with the seed.")
@selection_option(
    "--select", "random", "How --k exemplars are chosen from more (see: zest exemplars pick)."
)
@click.option("--generator", default="llama-cpp", show_default=True)
@click.option("--model", help="Model for the generator (llama-cpp: path to any GGUF).")
@option_pairs("Generator option, e.g. -o top_p=0.9 -o batch_size=8 (see: zest plugins --options).")
@click.option("--host", help="Same as -o host=ADDRESS, for generators with a host option (ollama).")
@click.option(
    "--base-url", help="Same as -o base_url=URL, for generators with a base_url option (openai)."
)
@click.option("--strategy", default="hierarchical", show_default=True)
@click.option("--templates", type=click.Path(), help="TOML prompt templates for the strategy.")
@click.option("--anchors", "n_anchors", type=int, default=20, show_default=True)
@click.option("--docs", "n_docs", type=int, default=512, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--name", help="Corpus name (default: the exemplar path's name).")
@click.option("--resume", metavar="VERSION", help="Continue an unfinished version.")
@click.option(
    "--top-up",
    metavar="VERSION",
    help="Generate replacements for a filtered version, up to its target size.",
)
@db_option
def run(
    exemplar_paths,
    glob,
    strict,
    k,
    select,
    generator,
    model,
    options,
    host,
    base_url,
    strategy,
    templates,
    n_anchors,
    n_docs,
    seed,
    name,
    resume,
    top_up,
    db,
):
    """Generate a synthetic corpus version from exemplar documents."""
    started = time.monotonic()
    options.update({k_: v for k_, v in (("host", host), ("base_url", base_url)) if v})
    if resume or top_up:
        if resume and top_up:
            raise ZestError("use either --resume or --top-up, not both")
        ctx = click.get_current_context()
        fixed = [
            p.opts[0]
            for p in ctx.command.params
            if p.name in RUN_DEFINING
            and ctx.get_parameter_source(p.name) == ParameterSource.COMMANDLINE
        ]
        if fixed:
            raise ZestError(
                f"{', '.join(fixed)} cannot be combined with --resume or --top-up:"
                " they are the version's own (start a new run to change them)"
            )
        store = Store(db)
        ref = resume or top_up
        version = store.version(ref)
        with (
            _progress(
                version["target_docs"] or 0, store.totals(version["id"])["documents"]
            ) as advance,
            _naming_db(db),
        ):
            action = pipeline.resume if resume else pipeline.top_up
            version_id = action(store, ref, on_document=advance, changes=options)
    else:
        if not exemplar_paths:
            raise ZestError("give --exemplars PATH (or --resume VERSION / --top-up VERSION)")
        corpus = name if name is not None else _default_name(exemplar_paths[0])
        # --anchors is checked once the strategy is known (some use none)
        runconfig.check_run(corpus=corpus, n_docs=n_docs, n_anchors=1, seed=seed, k=k)
        from .contexts.encoding import dense_embedder
        from .corpus.selection import choose

        pool = read_exemplars(list(exemplar_paths), glob, strict)
        store = Store(db)
        exemplars = choose(pool, k, seed, select, dense_embedder(store, lazy=True))
        with _progress(n_docs, 0) as advance, _naming_db(db):
            version_id = pipeline.start(
                store,
                exemplars=exemplars,
                corpus=corpus,
                generator=generator,
                model=model,
                options=options,
                strategy=strategy,
                templates=templates,
                n_anchors=n_anchors,
                n_docs=n_docs,
                seed=seed,
                on_document=advance,
            )
    _summary(store, version_id, time.monotonic() - started)


# What a version is made of: fixed once it exists (resume-safe options go through -o).
RUN_DEFINING = (
    "exemplar_paths",
    "glob",
    "k",
    "generator",
    "model",
    "strategy",
    "templates",
    "n_anchors",
    "n_docs",
    "seed",
    "name",
)


def _default_name(path: str) -> str:
    p = Path(path)
    named = p if p.is_dir() else p.parent if p.stem in ("corpus", "exemplars") else p
    return named.stem or "corpus"


@contextlib.contextmanager
def _naming_db(db: str | None):
    """A version left unfinished is continued in the database it was written to: its
    ``Error:`` line's advice names ``db`` (the --db given, or $ZEST_DB)."""
    try:
        yield
    except Exception as e:
        if getattr(e, "resumable_version", None) is not None:
            e.resumable_db = db
        raise


class _progress:
    """A progress bar over documents that the pipeline advances through its callback."""

    def __init__(self, total: int, done: int):
        self.bar = Progress(
            TextColumn("generating"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[tokens]} tokens"),
            TimeElapsedColumn(),
            console=console.stderr,
            disable=not console.stderr.is_terminal,
        )
        self.task = self.bar.add_task("docs", total=total, completed=done, tokens=0)
        self.tokens = 0

    def __enter__(self):
        self.bar.start()
        return self.advance

    def advance(self, doc: dict) -> None:
        self.tokens += doc["token_count"] or 0
        self.bar.update(self.task, advance=1, tokens=self.tokens)

    def __exit__(self, *exc):
        self.bar.stop()


def _summary(store: Store, version_id: int, seconds: float) -> None:
    version = store.version(version_id)
    totals = store.totals(version_id)
    rate = totals["completion_tokens"] / version["wall_seconds"] if version["wall_seconds"] else 0
    click.echo(
        f"version {version_id} ({version['corpus']}) {version['status']}: "
        f"{totals['documents']} documents over {len(store.anchors(version_id))} anchors, "
        f"{totals['completion_tokens']} tokens generated ({totals['prompt_tokens']} prompt), "
        f"{rate:.1f} tokens/s, wall time {seconds:.1f} s"
    )


plugins.load_plugins()
plugins.pm.hook.register_commands(cli=cli)


def main() -> None:
    """The console script: the command runs in a supervised child process (a native crash
    becomes one ``Error:`` line: ``supervisor``); one ``Error:`` line for a problem the user
    can fix; Ctrl-C and SIGTERM mark the version failed, print how to continue and exit
    130 / 143."""
    sys.exit(supervisor.supervised(_main))


def _main() -> int:
    signal.signal(signal.SIGTERM, _terminate)
    try:
        rc = cli.main(standalone_mode=False)
    except click.ClickException as e:
        e.show()
        rc = e.exit_code
    except Interrupted as e:
        rc = _interrupted(e.signum, e.version_id)
    except (KeyboardInterrupt, click.Abort):
        rc = _interrupted(signal.SIGINT, None)
    return rc if isinstance(rc, int) else 0


def _terminate(signum, frame):
    raise Interrupted(signum)


def _interrupted(signum: int, version_id: int | None) -> int:
    name = signal.Signals(signum).name
    if version_id is None:
        click.echo(f"interrupted ({name})", err=True)
    else:
        advice = supervisor.continue_advice(sys.argv, [{"version": version_id}])
        click.echo(
            f"interrupted ({name}); version {version_id} is marked failed. {advice}", err=True
        )
    return 128 + signum
