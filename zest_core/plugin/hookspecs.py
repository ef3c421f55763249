"""Hook specifications: the whole contract between zest and its plugins.

A plugin is a module with functions decorated by ``zest_core.hookimpl`` whose names match
the hooks below, registered through the ``zest`` entry-point group in its package's
``pyproject.toml``::

    [project.entry-points.zest]
    my_plugin = "my_plugin"

Each ``register_*`` hook receives a ``register`` callback: call it once per class you
provide. Classes are instantiated lazily, only when the user picks them by ``name``.
"""

from collections.abc import Callable

import click
from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("zest")
hookimpl = HookimplMarker("zest")


@hookspec
def register_generators(register: Callable[[type], None]) -> None:
    """Provide text generators: ``register(cls)`` with a ``zest_core.Generator``
    subclass.

    The class sets ``name`` (what ``zest run --generator NAME`` selects) and ``options`` (name
    -> ``zest_core.Option(default, type, help, choices=..., min=..., max=...)``; ``-o
    key=value`` overrides them, checked and coerced, into ``self.options``, and ``zest plugins
    --options`` lists them). It implements ``complete(request) -> Completion``; a
    generator that can batch also overrides ``complete_many`` to yield results as they finish.
    Raise ``ZestError`` for anything the user can fix (unreachable host, missing model).
    """


@hookspec
def register_anchor_strategies(register: Callable[[type], None]) -> None:
    """Provide anchor strategies: ``register(cls)`` with a
    ``zest_core.AnchorStrategy`` subclass.

    A strategy turns the exemplars into anchors (short titles or themes, or none at all) and
    writes the completion prompt of every planned document. It must survive weak base models:
    sample anchors independently, reject near-duplicates, retry within a bounded budget.
    """


@hookspec
def register_filters(register: Callable[[type], None]) -> None:
    """Provide corpus filters: ``register(cls)`` with a ``zest_core.Filter``
    subclass.

    A filter declares ``options`` like a generator (``zest filter -o FILTER.KEY=VALUE``), sees
    the documents of one corpus version (and its exemplars) and says which to drop and why;
    ``zest filter`` writes the kept ones to a new child version.
    """


@hookspec
def register_encoders(register: Callable[[type], None]) -> None:
    """Provide text encoders: ``register(cls)`` with a ``zest_core.Encoder``
    subclass.

    An encoder declares ``options`` like a generator (``zest eval -o KEY=VALUE``) and embeds
    queries and documents, optionally conditioned on a context corpus
    (a synthetic version, a sample of the real corpus, or nothing). What it derives from a
    context is cached in the store once per (context, encoder, settings).
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add click commands or groups to the ``zest`` CLI: ``cli.add_command(...)``."""
