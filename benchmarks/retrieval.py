"""Retrieval quality per context on SciFact and NFCorpus, and our dense encoder's throughput
against raw sentence-transformers on the same texts, in one run.

    python benchmarks/retrieval.py --version 3 --db /tmp/z_eval.db

Rows per dataset: dense with no context, hybrid with no context, hybrid with the real corpus
as context (512 documents sampled with seed 0), and hybrid with each ``--version`` (a
synthetic corpus; one made from another domain's exemplars is the paper's failure case).
Corpus embeddings are cached in the database, so only the first run encodes the corpora.
"""

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

from zest_core.contexts.beir import load_beir
from zest_core.contexts.encoding import make_encoder
from zest_core.contexts.scoring import evaluate_contexts
from zest_core.corpus.store import Store

BEIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "beir"


def quality(store: Store, datasets: list[str], versions: list[str]) -> None:
    print(f"{'dataset':10} {'encoder':7} {'context':40} {'nDCG@10':>8} {'R@100':>7} {'s':>7}")
    for name in datasets:
        runs = [("dense", ["none"]), ("hybrid", ["none", "real", *versions])]
        for encoder, contexts in runs:
            for row in evaluate_contexts(store, BEIR / name, encoder, contexts):
                print(
                    f"{name:10} {encoder:7} {row['label']:40} {100 * row['ndcg_at_10']:8.2f}"
                    f" {100 * row['recall_at_100']:7.2f} {row['seconds']:7.1f}",
                    flush=True,
                )


def throughput(n_docs: int, batch_size: int) -> None:
    """Documents per second: ``DenseEncoder.embed_documents`` vs ``SentenceTransformer.encode``
    on the same model, texts, batch size and sequence length, alternated twice, best of each."""
    texts = load_beir(BEIR / "scifact").document_texts()[:n_docs]
    ours = make_encoder("dense", batch_size=batch_size)
    raw = ours.st  # the very same SentenceTransformer, called directly
    ours.embed_documents(texts[:batch_size])  # warm up both paths
    runs = {
        "zest dense": lambda: ours.embed_documents(texts),
        "sentence-transformers": lambda: raw.encode(
            texts, batch_size=batch_size, normalize_embeddings=True
        ),
    }
    best = {}
    for _ in range(2):
        for label, run in runs.items():
            started = time.perf_counter()
            run()
            rate = len(texts) / (time.perf_counter() - started)
            best[label] = max(best.get(label, 0), rate)
    for label, rate in best.items():
        print(f"{label:22} {rate:8.1f} docs/s ({len(texts)} SciFact docs, batch {batch_size})")
    ratio = best["zest dense"] / best["sentence-transformers"]
    print(f"ratio zest / sentence-transformers: {ratio:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", help="zest database (default: the usual one)")
    parser.add_argument(
        "--version",
        action="append",
        default=[],
        help="synthetic corpus version to use as context (repeat)",
    )
    parser.add_argument("--datasets", default="scifact,nfcorpus")
    parser.add_argument("--throughput-docs", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    print("command: python " + " ".join(shlex.quote(a) for a in sys.argv))
    store = Store(args.db)
    for version in args.version:
        v = store.require_complete(version)
        print(
            f"version {v['id']}: corpus {v['corpus']}, {v['generator']} {v['model']},"
            f" config {json.dumps(v['config'], sort_keys=True)[:200]}"
        )
    quality(store, args.datasets.split(","), args.version)
    throughput(args.throughput_docs, args.batch_size)


if __name__ == "__main__":
    main()
