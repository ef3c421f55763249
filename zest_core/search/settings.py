"""The index's HNSW and candidate settings, apart from ``indexing`` so that the CLI can show
them as defaults without importing numpy-heavy modules at start-up. Measured in
``benchmarks/scale.py`` (docs/scale.md)."""

CONNECTIVITY = 16
EXPANSION_ADD = 128
#: The graph's copy of the vectors: half the memory of f32; candidates are rescored from
#: vectors.npy in float32, so scores stay exact (graph recall measured equal: docs/scale.md).
GRAPH_DTYPE = "f16"
#: 128 gave recall@10 0.925 at 200k near-copies, 400 gave 0.972 (docs/scale.md).
EXPANSION_SEARCH = 400
#: Dense and BM25 candidates per query, each scored exactly.
CANDIDATES = 100
