"""zest-echo: an example zest plugin package.

zest finds this module through the ``zest`` entry point in ``pyproject.toml`` and calls the
hook functions below, each marked with ``hookimpl``; their names say which hook they are.
"""

from zest_core import hookimpl

from .commands import echo_stats
from .filters import Repeats
from .generator import Echo


@hookimpl
def register_generators(register):
    register(Echo)


@hookimpl
def register_filters(register):
    register(Repeats)


@hookimpl
def register_commands(cli):
    cli.add_command(echo_stats)
