"""``zest plugins``: the loaded plugins, their hooks and versions, what they provide and
every option they declare. The group is this module's; ``zest plugins new`` (``scaffold``)
adds itself to it."""

import click
from rich.table import Table

from .. import console
from ..plugin import manager as plugins
from ..plugin.hookspecs import hookimpl
from ..plugin.options import allowed


@click.group(name="plugins", invoke_without_command=True)
@click.option(
    "--options",
    "show_options",
    is_flag=True,
    help="List every option of every generator, filter and encoder, with its type,"
    " default, allowed values and help.",
)
@click.pass_context
def plugins_command(ctx, show_options):
    """List loaded plugins, their hooks and versions, and what they provide."""
    if ctx.invoked_subcommand is not None:
        return
    if show_options:
        table = Table("kind", "plugin", "option", "type", "default", "allowed", "help")
        for row in plugins.option_rows():
            table.add_row(
                row["kind"],
                row["plugin"],
                row["option"],
                row["type"],
                repr(row["default"]),
                allowed(row["choices"], row["min"], row["max"]),
                row["help"],
            )
        console.stdout().print(table)
        return
    table = Table("plugin", "package", "version", "hooks")
    for row in plugins.plugin_info():
        table.add_row(
            row["name"], row["package"] or "", row["version"] or "", ", ".join(row["hooks"])
        )
    console.stdout().print(table)
    for kind in plugins.KINDS.values():
        click.echo(f"{kind.plural}: {', '.join(sorted(plugins.collect(kind))) or '-'}")


@hookimpl
def register_commands(cli):
    cli.add_command(plugins_command)
