"""``--glob`` and ``--strict``: how the commands that read the user's documents (``zest
run --exemplars``, ``zest exemplars pick``, ``zest embed``) walk a folder and treat a file
they cannot read (docs/your-documents.md). No commands of its own."""

import click


def reading_options(fn):
    fn = click.option(
        "--strict",
        is_flag=True,
        help="Stop at the first file of a folder that cannot be read (default: skip it"
        " with a warning line and count the skipped files at the end).",
    )(fn)
    return click.option(
        "--glob",
        help="Which files of a folder are read, e.g. '**/*.pdf' (default: every file,"
        " recursively; a folder with .jsonl files at its top: those and its .txt files;"
        " a BEIR folder: its corpus.jsonl). Hidden files never.",
    )(fn)
