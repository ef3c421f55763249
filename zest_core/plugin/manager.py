"""Plugin manager: loads the ``zest`` entry points once and collects what they register.

``ZEST_LOAD_PLUGINS`` (comma-separated entry-point names) restricts which plugins load;
set it to an empty string to load none. Core command modules always load.
"""

import importlib
import os
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

import pluggy

from .. import __version__
from ..errors import ZestError
from . import hookspecs

if TYPE_CHECKING:
    from .generation import Generator

# Parts of the core that add CLI commands through the same hook as third-party plugins.
CORE_PLUGINS = (
    "zest_core.commands.corpora",
    "zest_core.commands.evaluation",
    "zest_core.commands.filtering",
    "zest_core.commands.lineage",
    "zest_core.commands.compare",
    "zest_core.commands.results",
    "zest_core.commands.experiment",
    "zest_core.commands.embedding",
    "zest_core.commands.fidelity",
    "zest_core.commands.tuning",
    "zest_core.commands.doctor",
    "zest_core.commands.adapt",
    "zest_core.commands.scaffold",
    "zest_core.commands.browse",
)

pm = pluggy.PluginManager("zest")
pm.add_hookspecs(hookspecs)

_loaded = False
_versions: dict[str, str | None] = {}
_packages: dict[str, str] = {}  # plugin name -> the distribution that installed it

# What each kind of plugin class is called, and the hook that provides it.
KINDS = {
    "generator": "register_generators",
    "anchor strategy": "register_anchor_strategies",
    "filter": "register_filters",
    "encoder": "register_encoders",
}


def load_plugins() -> None:
    """Register core modules and entry-point plugins; later calls do nothing.

    Entry points load their module only: plugins import heavy libraries (llama.cpp, torch)
    when a class of theirs is instantiated, so commands that generate nothing stay fast.
    """
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in CORE_PLUGINS:
        pm.register(importlib.import_module(module), name=module)
        _versions[module] = __version__
        _packages[module] = "zest-core"
    allowed = os.environ.get("ZEST_LOAD_PLUGINS")
    allow = None if allowed is None else {n.strip() for n in allowed.split(",") if n.strip()}
    for ep in entry_points(group="zest"):
        if allow is not None and ep.name not in allow:
            continue
        package = ep.dist.name if ep.dist else ep.value
        name = ep.name
        if pm.get_plugin(name) is not None:
            if _packages.get(name) == package:
                continue
            # Another package uses this entry-point name: load it too, so that a class both
            # register is reported with both packages instead of one silently winning.
            name = f"{ep.name}@{package}"
        pm.register(ep.load(), name=name)
        _versions[name] = ep.dist.version if ep.dist else None
        _packages[name] = package


def plugin_info() -> list[dict]:
    """What ``zest plugins`` prints: each loaded plugin, its hooks and its version."""
    load_plugins()
    rows = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or [])
        rows.append(
            {
                "name": name,
                "hooks": hooks,
                "version": _versions.get(name),
                "package": _packages.get(name),
            }
        )
    return rows


def _describe(plugin_name: str) -> str:
    package = _packages.get(plugin_name)
    return f"package {package} (plugin {plugin_name})" if package else f"plugin {plugin_name}"


def _base(kind: str) -> type:
    """The class every plugin class of ``kind`` subclasses (imported on first use: the
    encoder's needs numpy)."""
    if kind == "generator":
        from .generation import Generator as base
    elif kind == "anchor strategy":
        from .strategy import AnchorStrategy as base
    elif kind == "filter":
        from .filter import Filter as base
    else:
        from .encoder import Encoder as base
    return base


def _collect(hook_name: str) -> dict[str, type]:
    """Every class registered through ``hook_name``, by name; two plugins registering the
    same name is a ZestError that names both.

    The hook is called through pluggy, so the impls run as pluggy orders them; the plugin that
    registered a class is found afterwards, only for that message (see ``_owner``)."""
    load_plugins()
    kind = next(k for k, hook in KINDS.items() if hook == hook_name)
    base = _base(kind)
    found: dict[str, list[type]] = {}

    def register(cls: type) -> None:
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise TypeError(
                f"{cls!r} registered through {hook_name} is not a subclass of"
                f" zest_core.{base.__name__}"
            )
        if not cls.name:
            raise TypeError(f"{cls!r} registered through {hook_name} has no 'name'")
        classes = found.setdefault(cls.name, [])
        if cls not in classes:
            classes.append(cls)

    hook = getattr(pm.hook, hook_name)
    hook(register=register)
    for name, classes in found.items():
        if len(classes) > 1:
            first, second = sorted(_owner(hook, cls) for cls in classes[:2])
            raise ZestError(
                f"two plugins register the {kind} '{name}': {first[1]} and {second[1]};"
                " uninstall one of them"
            )
    return {name: classes[0] for name, classes in sorted(found.items())}


def _owner(hook: pluggy.HookCaller, cls: type) -> tuple[int, str]:
    """The plugin that registered ``cls`` as ``(registration index, description)``: the one
    whose hook implementation lives in the top-level package that defines the class."""
    package = cls.__module__.partition(".")[0]
    for index, impl in enumerate(hook.get_hookimpls()):  # in registration order
        if impl.function.__module__.partition(".")[0] == package:
            return index, _describe(impl.plugin_name)
    return len(hook.get_hookimpls()), f"module {cls.__module__}"


def _lookup(kind: str, name: str) -> type:
    available = _collect(KINDS[kind])
    if name not in available:
        known = ", ".join(sorted(available)) or "none installed"
        raise ZestError(f"unknown {kind} '{name}' (available: {known})")
    return available[name]


def generators() -> dict[str, type]:
    return _collect(KINDS["generator"])


def anchor_strategies() -> dict[str, type]:
    return _collect(KINDS["anchor strategy"])


def filters() -> dict[str, type]:
    return _collect(KINDS["filter"])


def encoders() -> dict[str, type]:
    return _collect(KINDS["encoder"])


def get_generator(name: str) -> type:
    return _lookup("generator", name)


def new_generator(name: str, model: str | None = None, **options) -> "Generator":
    """The generator ``name`` built with ``model`` and ``options``; a supervising ``zest``
    process is told which it is, so a native crash inside it can be reported by name."""
    from .. import supervisor

    gen = get_generator(name)(model, **options)
    supervisor.note("generator", name=gen.name, model=gen.model_id, hint=gen.crash_hint())
    return gen


def get_anchor_strategy(name: str) -> type:
    return _lookup("anchor strategy", name)


def get_filter(name: str) -> type:
    return _lookup("filter", name)


def get_encoder(name: str) -> type:
    return _lookup("encoder", name)


def option_rows() -> list[dict]:
    """Every option of every installed plugin, as ``zest plugins --options`` lists them: dicts
    with ``kind``, ``plugin``, ``option``, ``type`` (``str``, ``int``, ``float`` or ``bool``),
    ``default``, ``choices`` (a list or None), ``min``, ``max`` (None when unbounded) and
    ``help``; by kind, then plugin name, then in the order the plugin declares them."""
    rows = []
    for kind, hook in KINDS.items():
        for name, cls in sorted(_collect(hook).items()):
            for key, spec in cls.option_specs().items():
                rows.append(
                    {
                        "kind": kind,
                        "plugin": name,
                        "option": key,
                        "type": spec.type.__name__,
                        "default": spec.default,
                        "choices": list(spec.choices) if spec.choices is not None else None,
                        "min": spec.min,
                        "max": spec.max,
                        "help": spec.help,
                    }
                )
    return rows
