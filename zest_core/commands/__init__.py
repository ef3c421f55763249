"""Commands added to the zest CLI by the core itself, through the register_commands hook.

Each module defines its commands at module level and adds them in ``register_commands``;
what they share lives here, so that no command module imports ``zest_core.cli``.
"""

import click


def _registry(ctx, param, value):
    # the store that `--model adapted:ID` is looked up in (zest_core/adaptation/adapt.py)
    from ..adaptation.registry import use_registry

    use_registry(value)
    return value


def db_option(fn):
    return click.option(
        "--db",
        type=click.Path(dir_okay=False),
        envvar="ZEST_DB",
        callback=_registry,
        help="SQLite database file (default: $ZEST_DB, corpora/zest.db in a "
        "checkout, else the user data directory).",
    )(fn)


def _pairs(ctx, param, value):
    from ..plugin.options import parse_option_pairs

    return parse_option_pairs(value)


def option_pairs(help: str, metavar: str = "KEY=VALUE"):
    """``-o/--option KEY=VALUE`` (repeatable), given to the command as ``options``: a dict of
    the strings, checked to be pairs before the command runs; ``help`` says whose options."""
    return click.option(
        "-o",
        "--option",
        "options",
        multiple=True,
        metavar=metavar,
        callback=_pairs,
        help=help,
    )


def seed_bounds(ctx, param, value):
    """A click callback: a seed within ``zest run``'s bounds (0 to 2**63-1), checked as the
    command line is read, so every command refuses the seeds ``zest run`` refuses."""
    from ..corpus.runconfig import check_seed

    check_seed(value, param.opts[0])
    return value


def seed_option(help: str):
    """``--seed`` (default 0) with ``zest run``'s bounds, checked as the line is read."""
    return click.option(
        "--seed", type=int, default=0, show_default=True, callback=seed_bounds, help=help
    )


def not_negative(ctx, param, value):
    """A click callback: a count that may be 0 but not below (``--samples -1``)."""
    from ..errors import ZestError

    if value is not None and value < 0:
        raise ZestError(f"{param.opts[0]} must be 0 or more (got {value})")
    return value


def not_empty(ctx, param, value):
    """A click callback: no empty path (``--exemplars ""`` read the current directory)."""
    from ..errors import ZestError

    values = value if isinstance(value, tuple) else (value,)
    if any(v is not None and not str(v).strip() for v in values):
        raise ZestError(f"{param.opts[0]} must not be empty: give a file or directory")
    return value


def exemplars_option(fn):
    """``--exemplars PATH`` (repeatable), given as ``exemplar_paths``."""
    return click.option(
        "--exemplars",
        "exemplar_paths",
        multiple=True,
        type=click.Path(),
        callback=not_empty,
        help="Documents: .txt, .md, .html, .pdf, .docx, JSONL (text, optional title), BEIR"
        " corpus.jsonl, or a folder of them (docs/your-documents.md).",
    )(fn)


def k_option(help: str):
    """``--k N``: how many exemplars (``help`` says what is done with them)."""
    return click.option("--k", type=int, default=5, show_default=True, help=help)


def selection_option(name: str, default: str, help: str):
    """How ``--k`` exemplars are chosen from a larger pool (``corpus.selection.METHODS``)."""
    from ..corpus.selection import METHODS

    return click.option(
        name, type=click.Choice(METHODS), default=default, show_default=True, help=help
    )


def query_writer_options(what: str):
    """``--generator``, ``--generator-model`` and ``--templates``: what writes the synthetic
    queries (``adaptation.tuning.write_queries``) of ``what``."""

    def decorate(fn):
        for option in (
            click.option(
                "--templates",
                type=click.Path(),
                help="Query template TOML (default: zest_core/templates/query.toml).",
            ),
            click.option("--generator-model", help="Its model (default: the version's)."),
            click.option("--generator", help=f"Generator of {what} (default: the version's)."),
        ):
            fn = option(fn)
        return fn

    return decorate
