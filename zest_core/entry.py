"""The ``zest`` console script: as little as possible before the signal handling is in place.

Importing the CLI loads every plugin, which takes a noticeable moment; a Ctrl-C or a SIGTERM
in it must still end in one line and status 130 / 143, not a ``KeyboardInterrupt``
traceback or a silent death.
"""

import signal
import sys


class _Terminated(BaseException):
    """SIGTERM before the CLI has its own handler (``cli._main`` installs it)."""


def _terminated(signum, frame):
    raise _Terminated


def main() -> None:
    signal.signal(signal.SIGTERM, _terminated)
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        print("interrupted (SIGINT)", file=sys.stderr)
        sys.exit(130)
    except _Terminated:
        _say_terminated()
    try:
        cli_main()
    except _Terminated:  # after the import, before the supervisor or the CLI took it over
        _say_terminated()


def _say_terminated() -> None:
    print("interrupted (SIGTERM)", file=sys.stderr)
    sys.exit(128 + signal.SIGTERM)
