"""zest: domain-adapted text embeddings from a few exemplars and a local LLM (ZEST).

``zest_core`` is the one public namespace, for users and plugin authors alike::

    import zest_core as zest
    version = zest.generate("my-exemplars/", corpus="mine", n_docs=512)
    enc = zest.load_encoder(context=version)  # the default encoder
    hits = enc.search(["a question"], ["a document", "another"], top_k=1)

    from zest_core import Generator, Request, Completion, Option, hookimpl, ZestError

Every name in ``__all__`` is public (docs/python-api.md, docs/plugins/); the subpackages
(``plugin``, ``corpus``, ``contexts``, ``adaptation``, ``experiment``, ``search``,
``commands``) are the core's layout and
may change. Names load on first use, so ``import zest_core`` stays cheap (no numpy, no model
runtimes): ``Encoder`` needs numpy, ``Store`` sqlite-utils.
"""

import importlib

from .errors import ZestError
from .plugin.hookspecs import hookimpl
from .plugin.options import Option

__version__ = "0.1.0"

# name -> module that defines it, imported when the name is first used
_LAZY = {
    # the Python API (docs/python-api.md)
    "load_encoder": "contexts.api",
    "generate": "corpus.api",
    "AdaptedEncoder": "contexts.api",
    "Embeddings": "contexts.api",
    "Hit": "contexts.api",
    "Store": "corpus.store",
    # your own documents: read, split into passages, embedded, searched (docs/your-documents.md)
    "read_documents": "documents",
    "Document": "documents",
    "split_passages": "documents",
    "Passage": "documents",
    "embed": "search.shards",
    "build_index": "search.indexing",
    "SearchIndex": "search.indexing",
    "search_passages": "search.documents",
    # plugin base classes and what they exchange with the core (docs/plugins/)
    "Configurable": "plugin.options",
    "Generator": "plugin.generation",
    "Request": "plugin.generation",
    "Completion": "plugin.generation",
    "AnchorStrategy": "plugin.strategy",
    "Filter": "plugin.filter",
    "Drop": "plugin.filter",
    "Encoder": "plugin.encoder",
    "State": "plugin.encoder",
    # helpers the shipped plugins share, public so that third-party plugins can too
    "TOP_K": "plugin.generation",  # sampling options most generators take
    "TOP_P": "plugin.generation",
    "derive_seed": "plugin.strategy",  # a stable per-sample seed
    "BLOCK_SIZE": "plugin.encoder",  # block-wise top-k scoring
    "TopK": "plugin.encoder",
    "DocumentMoments": "plugin.encoder",  # score standardisation without scoring everything
    "standardise": "plugin.encoder",
    "sparse_dot": "plugin.encoder",  # products of two sparse sides (stable term ids)
    "DEFAULT_ENCODER": "plugin.encoder",  # the encoder used unless one is named
    "LoopCheck": "plugin.loops",  # stopping a text that repeats itself
    "last_sentence_end": "plugin.loops",
    "starts_sentence": "plugin.loops",
    "default_gguf": "plugin.models",  # the default generator model file
    "get_encoder": "plugin.manager",  # an installed encoder class, by name
    "adapted_model_folder": "adaptation.registry",  # the folder of a model `zest adapt` made
    "require": "deps",  # an optional dependency, or a ZestError naming its extra
    "install_hint": "deps",  # the pip command that installs one of zest-core's extras
    "words": "text",  # word-level text helpers
    "ngrams": "text",
    "jaccard": "text",
    "title": "text",
    "stderr": "console",  # the console zest writes messages to
}

# every public name: the eager ones above and the lazy ones (tests/test_layout.py checks both)
__all__ = [
    "AdaptedEncoder",
    "AnchorStrategy",
    "BLOCK_SIZE",
    "Completion",
    "Configurable",
    "DEFAULT_ENCODER",
    "Document",
    "DocumentMoments",
    "Drop",
    "Embeddings",
    "Encoder",
    "Filter",
    "Generator",
    "Hit",
    "LoopCheck",
    "Option",
    "Passage",
    "Request",
    "SearchIndex",
    "State",
    "Store",
    "TOP_K",
    "TOP_P",
    "TopK",
    "ZestError",
    "__version__",
    "adapted_model_folder",
    "build_index",
    "default_gguf",
    "derive_seed",
    "embed",
    "generate",
    "get_encoder",
    "hookimpl",
    "install_hint",
    "jaccard",
    "last_sentence_end",
    "load_encoder",
    "ngrams",
    "read_documents",
    "require",
    "search_passages",
    "sparse_dot",
    "split_passages",
    "standardise",
    "starts_sentence",
    "stderr",
    "title",
    "words",
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
