"""Rich consoles for the CLI: tables stay whole (not cut to 80 columns) when piped.

Markup is off: corpus names and generated documents are user text, and "[/INST]" in a
document must print as itself, not break the output. Style with ``rich.text.Text``.
"""

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def stdout() -> Console:
    return (
        Console(markup=False, highlight=False)
        if sys.stdout.isatty()
        else Console(width=250, soft_wrap=True, markup=False, highlight=False)
    )


stderr = Console(stderr=True, markup=False, highlight=False)


def progress_bar(label: str) -> Progress:
    """A counting bar on stderr, shown only on a terminal (scripts and logs stay clean)."""
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        disable=not stderr.is_terminal,
    )
