"""Commands added to the zest CLI by the core itself, through the register_commands hook.

Each module defines its commands at module level and adds them in ``register_commands``;
what they share lives here, so that no command module imports ``zest_core.cli``.
"""

import click


def _registry(ctx, param, value):
    # the store that `--model adapted:ID` is looked up in (zest_core/evaluation/adapt.py)
    from ..evaluation.adapted import use_registry

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
