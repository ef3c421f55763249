"""Optional dependencies: import one, or say in one ZestError which extra installs it."""

import importlib
from types import ModuleType

from .errors import ZestError

# Extras that pull in torch: in a checkout, constraints.txt pins its CPU wheel.
TORCH_EXTRAS = {"embed", "eval", "transformers"}


def install_hint(extra: str) -> str:
    constraints = "-c constraints.txt " if extra in TORCH_EXTRAS else ""
    return f"pip install {constraints}'zest-core[{extra}]'"


def require(module: str, extra: str | None = None, by: str | None = None) -> ModuleType:
    """Import ``module`` and return it. When it is missing (or fails to import), raise a
    ZestError that names who needs it and the pip extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        missing = isinstance(e, ModuleNotFoundError) and (
            e.name is None or module == e.name or module.startswith(e.name + ".")
        )
        why = "is not installed" if missing else f"could not be imported ({e})"
        who = f"; {by} needs it" if by else ""
        fix = f": {install_hint(extra)}" if extra else ""
        raise ZestError(f"the Python package {module} {why}{who}{fix}") from None
