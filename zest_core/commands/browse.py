"""``zest browse``: the store in Datasette, read-only, on this machine.

Datasette is the browser of sqlite-utils' ecosystem; zest adds its metadata and canned
queries (browse_queries.py) and a plugin with a page per version and per document
(browse_pages.py).

Read-only without immutable mode: Datasette's ``-i`` reads a file once and assumes it never
changes (it counts rows once and lets pages be cached), but a ``zest run`` may be writing the
store while it is browsed. The store is opened as a mutable database instead, which Datasette
reads through SQLite ``mode=ro`` connections: nothing can write through them, each page sees
the documents committed up to its request, and in WAL mode a reader never blocks the writer.
"""

import socket

import click

from ..corpus.store import Store
from ..deps import require
from ..errors import ZestError
from ..plugin.hookspecs import hookimpl
from . import db_option

# Datasette's settings for a local, read-only look at a store.
SETTINGS = {
    "default_page_size": 50,
    "sql_time_limit_ms": 3000,  # a reader's transaction stays short: the writer's WAL checkpoints
    "allow_download": False,  # the file stays where it is
    "suggest_facets": False,
}


@click.command()
@db_option
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to serve on; anything but 127.0.0.1 lets other machines read the store.",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=8001, show_default=True, help="0: any free."
)
def browse(db, host, port):
    """Browse the store in Datasette, read-only: versions with their lineage, anchors,
    documents, drops, full-text search and canned queries."""
    require("datasette", "browse", by="zest browse")
    import uvicorn  # a dependency of datasette
    from datasette.app import Datasette
    from datasette.plugins import pm

    from . import browse_pages, browse_queries

    store = Store(db, read_only=True)  # one clear error for a missing or old file
    path = store.path.resolve()
    store.db.conn.close()
    if not pm.is_registered(browse_pages):
        pm.register(browse_pages, name="zest")
    ds = Datasette(metadata=browse_queries.metadata(), settings=SETTINGS)
    ds.remove_database("_memory")  # made when no file is given; the store comes next
    ds.add_database(browse_pages.ReadOnlyDatabase(ds, str(path)), name=browse_queries.NAME)
    sock = _listen(host, port)
    shown = f"[{host}]" if ":" in host else host
    click.echo(
        f"Serving {path} read-only at http://{shown}:{sock.getsockname()[1]}/ (Ctrl-C stops)"
    )
    server = uvicorn.Server(uvicorn.Config(ds.app(), log_level="warning", lifespan="on"))
    server.run(sockets=[sock])


def _listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` (0: a free port the kernel picks), so the address
    printed is the one served, and no other process can take the port in between."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=64)
    except OSError as e:
        raise ZestError(f"cannot serve on {host}:{port}: {e.strerror or e}") from None


@hookimpl
def register_commands(cli):
    cli.add_command(browse)
