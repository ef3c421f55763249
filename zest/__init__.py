"""zest: domain-adapted text embeddings from a few exemplars and a local LLM (ZEST).

What a user and a plugin author need, in one namespace::

    import zest
    version = zest.generate("my-exemplars/", corpus="mine", n_docs=512)
    enc = zest.load_encoder("hybrid", context=version)
    hits = enc.search(["a question"], ["a document", "another"], top_k=1)

See docs/python-api.md.
"""

from zest_core import (
    AnchorStrategy,
    Completion,
    Drop,
    Encoder,
    Filter,
    Generator,
    Option,
    Request,
    ZestError,
    __version__,
    hookimpl,
)
from zest_core.corpus.store import Store
from zest_core.evaluation.api import AdaptedEncoder, Embeddings, Hit, generate, load_encoder

__all__ = [
    "AdaptedEncoder",
    "AnchorStrategy",
    "Completion",
    "Drop",
    "Embeddings",
    "Encoder",
    "Filter",
    "Generator",
    "Hit",
    "Option",
    "Request",
    "Store",
    "ZestError",
    "__version__",
    "generate",
    "hookimpl",
    "load_encoder",
]
