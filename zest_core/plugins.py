"""Plugin manager: loads the ``zest`` entry points once and collects what they register.

``ZEST_LOAD_PLUGINS`` (comma-separated entry-point names) restricts which plugins load;
set it to an empty string to load none. Core command modules always load.
"""

import importlib
import os
from importlib.metadata import entry_points

import pluggy

from . import __version__, hookspecs
from .errors import ZestError

# Parts of the core that add CLI commands through the same hook as third-party plugins.
CORE_PLUGINS = (
    "zest_core.commands.corpora",
    "zest_core.commands.evaluation",
    "zest_core.commands.filtering",
    "zest_core.commands.compare",
    "zest_core.commands.fidelity",
    "zest_core.commands.tuning",
)

pm = pluggy.PluginManager("zest")
pm.add_hookspecs(hookspecs)

_loaded = False
_versions: dict[str, str | None] = {}


def load_plugins() -> None:
    """Register core modules and entry-point plugins; later calls do nothing."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in CORE_PLUGINS:
        pm.register(importlib.import_module(module), name=module)
        _versions[module] = __version__
    allowed = os.environ.get("ZEST_LOAD_PLUGINS")
    allow = None if allowed is None else {n.strip() for n in allowed.split(",") if n.strip()}
    for ep in entry_points(group="zest"):
        if allow is not None and ep.name not in allow:
            continue
        if pm.get_plugin(ep.name) is None:
            pm.register(ep.load(), name=ep.name)
            _versions[ep.name] = ep.dist.version if ep.dist else None


def plugin_info() -> list[dict]:
    """What ``zest plugins`` prints: each loaded plugin, its hooks and its version."""
    load_plugins()
    rows = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        rows.append({"name": name, "hooks": hooks, "version": _versions.get(name)})
    return rows


def _collect(hook_name: str) -> dict[str, type]:
    load_plugins()
    found: dict[str, type] = {}

    def register(cls: type) -> None:
        name = getattr(cls, "name", None)
        if not name:
            raise TypeError(f"{cls!r} registered through {hook_name} has no 'name'")
        found[name] = cls

    getattr(pm.hook, hook_name)(register=register)
    return found


def _lookup(kind: str, hook_name: str, name: str) -> type:
    available = _collect(hook_name)
    if name not in available:
        known = ", ".join(sorted(available)) or "none installed"
        raise ZestError(f"unknown {kind} '{name}' (available: {known})")
    return available[name]


def generators() -> dict[str, type]:
    return _collect("register_generators")


def anchor_strategies() -> dict[str, type]:
    return _collect("register_anchor_strategies")


def filters() -> dict[str, type]:
    return _collect("register_filters")


def encoders() -> dict[str, type]:
    return _collect("register_encoders")


def get_generator(name: str) -> type:
    return _lookup("generator", "register_generators", name)


def get_anchor_strategy(name: str) -> type:
    return _lookup("anchor strategy", "register_anchor_strategies", name)


def get_filter(name: str) -> type:
    return _lookup("filter", "register_filters", name)


def get_encoder(name: str) -> type:
    return _lookup("encoder", "register_encoders", name)
