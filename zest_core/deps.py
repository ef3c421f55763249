"""Optional dependencies: import one, or say in one ZestError which extra installs it.

``install_hint`` is the one place a message gets the command that installs an extra, so that every
hint names this distribution (zest-core) in the form that works where it is installed: in a
checkout's editable install ``pip install -e ".[ollama]"`` (the checkout's path when the current
directory is elsewhere), otherwise ``pip install 'zest-core[ollama]'``.
"""

import functools
import importlib
import importlib.metadata
import json
import os
from pathlib import Path
from types import ModuleType
from urllib.parse import unquote, urlparse

from .errors import ZestError

DISTRIBUTION = "zest-core"
# Extras that pull in torch: in a checkout, constraints.txt pins its CPU wheel.
TORCH_EXTRAS = {"embed", "eval", "transformers", "experiment", "search", "ray", "all", "test"}


def installed_distribution() -> importlib.metadata.Distribution:
    """zest-core's installed metadata: the first on the path that an installer wrote, so that
    the ``zest_core.egg-info`` a build leaves in a checkout (found first when Python runs there)
    does not stand for the install."""
    found = list(importlib.metadata.distributions(name=DISTRIBUTION))
    installed = [dist for dist in found if dist.read_text("INSTALLER") is not None]
    if not (installed or found):
        raise importlib.metadata.PackageNotFoundError(DISTRIBUTION)
    return (installed or found)[0]


@functools.cache
def editable_checkout() -> Path | None:
    """The checkout zest-core is installed from in editable mode (pip's ``direct_url.json``,
    PEP 610), or None for a regular install."""
    try:
        recorded = installed_distribution().read_text("direct_url.json")
        direct = json.loads(recorded or "{}")
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None
    url = urlparse(direct.get("url", ""))
    if not direct.get("dir_info", {}).get("editable") or url.scheme != "file":
        return None
    return Path(unquote(url.path))


def install_hint(extra: str) -> str:
    """The command that installs zest-core's ``extra`` into this environment."""
    checkout = editable_checkout()
    if checkout is None:
        return f"pip install '{DISTRIBUTION}[{extra}]'"
    here = Path(os.getcwd()).resolve() == checkout.resolve()
    place = "." if here else str(checkout)
    pins = "constraints.txt" if here else str(checkout / "constraints.txt")
    constraints = f"-c {pins} " if extra in TORCH_EXTRAS else ""
    return f'pip install {constraints}-e "{place}[{extra}]"'


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
