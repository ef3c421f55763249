"""Plugin manager: loads the ``zest`` entry points once and collects what they register.

``ZEST_LOAD_PLUGINS`` (comma-separated entry-point names) restricts which plugins load;
set it to an empty string to load none. Core command modules always load.
"""

import importlib
import os
from dataclasses import dataclass
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
    "zest_core.commands.plugins",
    "zest_core.commands.scaffold",
    "zest_core.commands.browse",
)

pm = pluggy.PluginManager("zest")
pm.add_hookspecs(hookspecs)

_loaded = False
_versions: dict[str, str | None] = {}
_packages: dict[str, str] = {}  # plugin name -> the distribution that installed it
_problems: list[str] = []  # plugins that failed to load or declare an unknown hook


@dataclass(frozen=True)
class Kind:
    """A kind of plugin class, declared once: what it is called, the hook that provides it
    and the base class every such class subclasses (``module:Class`` under
    ``zest_core.plugin``, imported on first use: the encoder's needs numpy)."""

    name: str
    plural: str
    hook: str
    base_path: str

    @property
    def base(self) -> type:
        module, _, cls = self.base_path.partition(":")
        return vars(importlib.import_module(f"zest_core.plugin.{module}"))[cls]


KINDS = {
    kind.name: kind
    for kind in (
        Kind("generator", "generators", "register_generators", "generation:Generator"),
        Kind("anchor strategy", "anchor strategies", "register_anchor_strategies",
             "strategy:AnchorStrategy"),
        Kind("filter", "filters", "register_filters", "filter:Filter"),
        Kind("encoder", "encoders", "register_encoders", "encoder:Encoder"),
    )
}  # fmt: skip


def load_plugins() -> None:
    """Register core modules and entry-point plugins; later calls do nothing.

    Entry points load their module only: plugins import heavy libraries (llama.cpp, torch)
    when a class of theirs is instantiated, so commands that generate nothing stay fast. An
    entry point that fails to import, or a plugin with a hook implementation no hook
    matches (a misspelt name: pluggy's ``check_pending``), is left out and noted in
    ``problems()``: the CLI prints it as a warning, and ``zest plugins`` as its error.
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
        try:
            module = ep.load()
        except Exception as e:  # its own import error, a syntax error, a missing module
            _problems.append(
                f"package {package}: its plugin {ep.name} ({ep.value}) failed to import:"
                f" {type(e).__name__}: {e}"
            )
            continue
        pm.register(module, name=name)
        _versions[name] = ep.dist.version if ep.dist else None
        _packages[name] = package
    _check_pending()


def _check_pending() -> None:
    """Every hook implementation matches a hook: a misspelt one (``register_generator``)
    would otherwise never be called, silently. The problem names the plugin; its other hooks
    still run."""
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as e:
            unknown = [
                (caller.name, impl)
                for caller in (pm.get_hookcallers(e.plugin) or [])
                if not caller.has_spec()
                for impl in caller.get_hookimpls()
                if impl.plugin is e.plugin and not impl.optionalhook
            ]
            if not unknown:
                raise
            hooks = sorted(n for n, c in vars(pm.hook).items() if n[0] != "_" and c.has_spec())
            _problems.append(
                f"{_describe(unknown[0][1].plugin_name)} implements"
                f" {', '.join(repr(name) for name, _ in unknown)}, which is not a zest hook"
                f" (the hooks: {', '.join(hooks)})"
            )
            for _, impl in unknown:  # reported: let check_pending look at the other plugins
                impl.optionalhook = True


def problems() -> list[str]:
    """What went wrong while loading plugins, one line each (see ``load_plugins``)."""
    load_plugins()
    return list(_problems)


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


def collect(kind: Kind) -> dict[str, type]:
    """Every class of ``kind`` registered, by name; two plugins registering the same name is
    a ZestError that names both.

    Each hook implementation is called on its own, in the order pluggy would call them, with
    a ``register`` that knows which plugin it was given to."""
    load_plugins()
    base = kind.base
    found: dict[str, list[tuple[int, str, type]]] = {}
    hook_name = kind.hook
    impls = getattr(pm.hook, hook_name).get_hookimpls()  # in registration order

    def register_for(index: int, plugin_name: str):
        def register(cls: type) -> None:
            if not (isinstance(cls, type) and issubclass(cls, base)):
                raise TypeError(
                    f"{cls!r} registered through {kind.hook} is not a subclass of"
                    f" zest_core.{base.__name__}"
                )
            if not cls.name:
                raise TypeError(f"{cls!r} registered through {kind.hook} has no 'name'")
            entries = found.setdefault(cls.name, [])
            if all(cls is not known for _, _, known in entries):
                entries.append((index, _describe(plugin_name), cls))

        return register

    for index, impl in reversed(list(enumerate(impls))):  # pluggy calls the last first
        register = register_for(index, impl.plugin_name)
        impl.function(**{arg: register for arg in impl.argnames})
    for name, entries in found.items():
        if len(entries) > 1:
            first, second = sorted(entries, key=lambda entry: entry[:2])[:2]
            raise ZestError(
                f"two plugins register the {kind.name} '{name}': {first[1]} and {second[1]};"
                " uninstall one of them"
            )
    return {name: entries[0][2] for name, entries in sorted(found.items())}


def _lookup(kind: str, name: str) -> type:
    available = collect(KINDS[kind])
    if name not in available:
        known = ", ".join(sorted(available)) or "none installed"
        raise ZestError(f"unknown {kind} '{name}' (available: {known})")
    return available[name]


def generators() -> dict[str, type]:
    return collect(KINDS["generator"])


def anchor_strategies() -> dict[str, type]:
    return collect(KINDS["anchor strategy"])


def filters() -> dict[str, type]:
    return collect(KINDS["filter"])


def encoders() -> dict[str, type]:
    return collect(KINDS["encoder"])


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
    for kind in KINDS.values():
        for name, cls in sorted(collect(kind).items()):
            for key, spec in cls.option_specs().items():
                rows.append(
                    {
                        "kind": kind.name,
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
