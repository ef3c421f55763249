"""What the generated parts of the docs print, called from their cog blocks.

Regenerate every page with ``cog -I docs -r docs/*.md docs/plugins/*.md``;
``tests/test_docs.py`` runs the same with ``--check`` so stale pages fail CI.
"""

import ast
import inspect
import os
import tomllib
from pathlib import Path

import cog

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
    "entry-points"
]["zest"]
# The pages describe zest as shipped: plugins installed beside it (the example package, a
# user's own) must not change them. Set before zest_core loads its plugins.
os.environ["ZEST_LOAD_PLUGINS"] = ",".join(SHIPPED)

WIDTH = 100  # help text wraps here whatever the terminal, so the output is reproducible


def cli_reference() -> None:
    """Every command's ``--help``, the group first, subcommands after their group."""
    import click

    from zest_core.cli import cli

    def walk(command: click.Command, path: list[str]) -> None:
        ctx = click.Context(
            command, info_name=" ".join(path), terminal_width=WIDTH, max_content_width=WIDTH
        )
        cog.outl(f"## {' '.join(path)}\n\n```text\n{command.get_help(ctx)}\n```\n")
        if isinstance(command, click.Group):
            for name in sorted(command.commands):
                walk(command.commands[name], [*path, name])

    walk(cli, ["zest"])


def _code(value) -> str:
    """A value as the user types it on the command line (``true``, not ``True``)."""
    if value is None or value == "":
        return ""
    return f"`{str(value).lower() if isinstance(value, bool) else value}`"


def option_table(kind: str) -> None:
    """A Markdown table of the options of every shipped plugin of one kind."""
    from zest_core.plugin.manager import option_rows
    from zest_core.plugin.options import allowed

    cog.outl("| plugin | option | type | default | allowed | help |")
    cog.outl("| --- | --- | --- | --- | --- | --- |")
    for row in option_rows():
        if row["kind"] == kind:
            help_text = row["help"].replace("|", "\\|").replace("\n", " ")
            cells = (
                _code(row["plugin"]),
                _code(row["option"]),
                row["type"],
                _code(row["default"]),
                allowed(row["choices"], row["min"], row["max"], _code),
                help_text,
            )
            cog.outl("| " + " | ".join(cells) + " |")


def include(path: str, lang: str = "python", part: str | None = None) -> None:
    """A file of the repository, verbatim, in a fenced block; with ``part``, only the top-level
    function or class of that name (with its decorators)."""
    text = (ROOT / path).read_text(encoding="utf-8")
    if part is not None:
        node = next(n for n in ast.parse(text).body if getattr(n, "name", None) == part)
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        text = "\n".join(text.splitlines()[first - 1 : node.end_lineno])
    cog.outl(f"```{lang}\n{text.rstrip()}\n```")


def source(module: str, *names: str) -> None:
    """The source of some functions or classes of an importable module, in one block."""
    import importlib

    mod = importlib.import_module(module)
    parts = [inspect.getsource(getattr(mod, name)).rstrip("\n") for name in names]
    cog.outl("```python\n" + "\n\n\n".join(parts) + "\n```")


def skeleton(name: str, kind: str, path: str, lang: str) -> None:
    """One file of the package ``zest plugins new NAME --kind KIND`` writes, as it writes it."""
    from zest_core.commands.scaffold import skeleton as files

    fence = "````" if lang == "markdown" else "```"  # the README holds ``` blocks itself
    cog.outl(f"{fence}{lang}\n{files(name, kind)[path].rstrip()}\n{fence}")
