"""zest: domain-adapted text embeddings from a few exemplars and a local LLM (ZEST)."""

from .errors import ZestError
from .hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["ZestError", "hookimpl", "__version__"]
