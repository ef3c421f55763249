"""Rich consoles for the CLI: tables stay whole (not cut to 80 columns) when piped."""

import sys

from rich.console import Console


def stdout() -> Console:
    return Console() if sys.stdout.isatty() else Console(width=250, soft_wrap=True)


stderr = Console(stderr=True)
