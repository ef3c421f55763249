"""zest: domain-adapted text embeddings from a few exemplars and a local LLM (ZEST).

Everything a plugin needs is importable from here::

    from zest_core import Generator, Request, Completion, Option, hookimpl, ZestError

The base classes load on first use, so ``import zest_core`` stays cheap (no numpy, no model
runtimes): ``Encoder`` needs numpy, ``Filter`` the store.
"""

import importlib

from .errors import ZestError
from .plugin.hookspecs import hookimpl
from .plugin.options import Option

__version__ = "0.1.0"

# name -> module that defines it, imported when the name is first used
_LAZY = {
    "Generator": "plugin.generation",
    "Request": "plugin.generation",
    "Completion": "plugin.generation",
    "AnchorStrategy": "plugin.strategy",
    "Filter": "corpus.filtering",
    "Drop": "corpus.filtering",
    "Encoder": "evaluation.encoding",
}

__all__ = [
    "AnchorStrategy",
    "Completion",
    "Drop",
    "Encoder",
    "Filter",
    "Generator",
    "Option",
    "Request",
    "ZestError",
    "hookimpl",
    "__version__",
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
