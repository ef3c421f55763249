"""The ``zest`` console script: as little as possible before the signal handling is in place.

Importing the CLI loads every plugin, which takes a noticeable moment; a Ctrl-C in it must
still end in one line and status 130, not a ``KeyboardInterrupt`` traceback.
"""

import sys


def main() -> None:
    try:
        from .cli import main as cli_main
    except KeyboardInterrupt:
        print("interrupted (SIGINT)", file=sys.stderr)
        sys.exit(130)
    cli_main()
