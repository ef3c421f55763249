"""Does the float16 copy of the vectors in zest index's HNSW graph lose dense recall? Builds
usearch graphs in f32 and f16 at zest index's settings (``new_graph``) over an index's
``vectors.npy`` and compares their dense recall@10 against exact inner product
(docs/scale.md).

    python benchmarks/graph_dtype.py OUT/synthetic-noise-800-1000000/index OUT/queries.npz
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from zest_core.search.indexing import new_graph  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("index", type=Path)
    parser.add_argument("queries", type=Path, help="scale.py's queries.npz")
    parser.add_argument("--queries-used", type=int, default=300)
    parser.add_argument("--expansions", default="400,1600")
    args = parser.parse_args()
    vectors = np.load(args.index / "vectors.npy", mmap_mode="r")
    with np.load(args.queries) as arrays:
        queries = arrays["dense"][: args.queries_used]
    exact = np.argsort(-(np.asarray(vectors) @ queries.T), axis=0)[:10].T
    print("python " + " ".join(sys.argv))
    for dtype in ("f32", "f16"):
        graph = new_graph(vectors.shape[1], dtype)
        started = time.perf_counter()
        for start in range(0, len(vectors), 65536):
            block = np.asarray(vectors[start : start + 65536])
            graph.add(np.arange(start, start + len(block), dtype=np.uint64), block)
        built = time.perf_counter() - started
        for expansion in map(int, args.expansions.split(",")):
            graph.expansion_search = expansion
            found = graph.search(queries, 10).keys
            recall = np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact)])
            print(
                f"{dtype}: built in {built:.0f} s; expansion {expansion}: dense recall@10"
                f" {recall:.3f} ({len(queries)} queries)",
                flush=True,
            )
        del graph


if __name__ == "__main__":
    main()
