"""Time of building trimmed copies: the first exemplar set of a model, then a second one.

The first build ranks the English sample's tokens and stores the ranking in the cache; the
second reads it. Both are built into a fresh temporary cache, in one process:

    python benchmarks/trim_build.py
"""

import tempfile
import time

from llama_batched import ROOT
from throughput import machine

from zest_core import default_gguf
from zest_core.corpus.exemplars import read_exemplars
from zest_llama_cpp.trim import exemplar_texts, trimmed_model


def main() -> None:
    print(machine())
    with tempfile.TemporaryDirectory() as cache:
        for name in ("scifact", "nfcorpus"):
            texts = exemplar_texts(read_exemplars([str(ROOT / "corpora" / name)]))
            started = time.perf_counter()
            trimmed_model(default_gguf(), texts, cache_dir=cache)
            print(f"{name} exemplars: built in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
