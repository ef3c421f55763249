"""Useful documents per minute: sequential full, batched full and batched default, side by side.

One document plan (``benchmarks/llama_batched.py``'s ``plan``: SciFact exemplars, the
hierarchical templates, anchors from SciFact titles, per-document seeds) is generated three
times in one process:

- sequential full: ``batch_size=1, vocab=full`` (the slowest way zest can run);
- batched full: the default batching with ``vocab=full``;
- batched default: every option at its default (``vocab=auto``: trimmed on these English
  exemplars; the trimmed copy is built once into the user cache, timed apart).

For each: tokens per second, documents per minute, and *kept* documents per minute, the
documents left after the default filters (``exact-dedup``, ``near-dedup``, ``quality``, each
with its default options, applied in-process to the generated texts), which is what a user
gets. Setup (loading the model, choosing the vocabulary, building a missing trimmed copy) is
shown apart; the rates are over the plan's wall time, its first prompt (the shared exemplar
prefix) included.

    python benchmarks/throughput.py              # 64 documents at the templates' 256 tokens
    python benchmarks/throughput.py --quick      # 8 documents of at most 64 tokens: a check
    python benchmarks/throughput.py --default-only --try loop_ngram=20 \
        --try loop_ngram=20,end_after=192        # levers against the default, one run
    python benchmarks/throughput.py --default-only --try model=copy.gguf,vocab=full

``--try OPTIONS`` adds a row: the default with these generator options (``key=value`` pairs,
comma-separated); ``--default-only`` leaves out the two full-vocabulary rows, and the ratio
column is then against batched default.
"""

import argparse
import datetime
import os
import platform
import sys
import time

import llama_cpp
from llama_batched import ROOT, plan, run

from zest_core.corpus.exemplars import read_exemplars
from zest_core.corpus.filtering import build_filters, run_filters
from zest_core.plugin import manager as plugins
from zest_llama_cpp import LlamaCppGenerator

DEFAULT_FILTERS = ("exact-dedup", "near-dedup", "quality")
CONFIGS = (
    ("sequential full", {"batch_size": 1, "vocab": "full"}),
    ("batched full", {"vocab": "full"}),
    ("batched default", {}),
)


def kept(completions, exemplars: list[dict]) -> int:
    """Documents the default filters keep, as ``zest filter`` would run them on the version:
    texts cleaned as the pipeline stores them, empty ones never stored."""
    strategy = plugins.get_anchor_strategy("hierarchical")()
    documents = [
        {"id": r.key, "ordinal": r.key, "text": text, "finish_reason": c.finish_reason}
        for r, c in completions
        if (text := strategy.clean_document(c.text))
    ]
    filters = build_filters((name, {}) for name in DEFAULT_FILTERS)
    rows = [{**e, "ordinal": i} for i, e in enumerate(exemplars)]  # as the store returns them
    dropped = {drop.document_id for _, drop in run_filters(filters, documents, rows)}
    return len(documents) - len(dropped)


def measure(label: str, options: dict, requests, exemplars: list[dict]) -> dict:
    started = time.perf_counter()
    gen = LlamaCppGenerator(**options)
    try:
        gen.prepare(exemplars)  # vocab=auto decides here; a missing trimmed copy is built
        setup = time.perf_counter() - started
        result = run(gen, requests)
        provenance = gen.provenance()
    finally:
        gen.close()
    return {
        **result,
        "label": label,
        "setup": setup,
        "kept": kept(result["completions"], exemplars),
        "vocab": provenance["vocab"],
        "batch": f"{provenance['batch_size']}x{provenance['workers']}",
    }


def parse_options(text: str) -> dict:
    """``loop_ngram=20,end_after=192`` as the generator's typed options; ``model=PATH`` runs
    another GGUF (as ``zest run --model``; benchmarks/requant.py writes some)."""
    given = dict(pair.split("=", 1) for pair in text.split(",") if pair)
    model = given.pop("model", None)
    options = LlamaCppGenerator.options
    unknown = set(given) - set(options)
    if unknown:
        raise SystemExit(f"unknown llama-cpp options: {', '.join(sorted(unknown))}")
    typed = {key: options[key].type(value) for key, value in given.items()}
    return {**typed, "model": model} if model else typed


def machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line),
        platform.processor() or "unknown CPU",
    )
    return (
        f"{os.cpu_count()} cores ({cpu}), load average {os.getloadavg()[0]:.1f},"
        f" llama-cpp-python {llama_cpp.__version__}, Python {sys.version.split()[0]}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=64)
    parser.add_argument("--anchors", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, help="default: the template's (256)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--quick", action="store_true", help="8 documents of at most 64 tokens (a check)"
    )
    parser.add_argument(
        "--try",
        dest="tries",
        action="append",
        default=[],
        metavar="OPTIONS",
        help="a row more: the default with these options, e.g. loop_ngram=20,end_after=192",
    )
    parser.add_argument(
        "--default-only", action="store_true", help="leave out the full-vocabulary rows"
    )
    args = parser.parse_args()
    configs = [c for c in CONFIGS if not args.default_only or not c[1]]
    configs += [(f"+ {text}", parse_options(text)) for text in args.tries]
    if args.quick:
        args.docs, args.anchors, args.max_tokens = 8, 4, args.max_tokens or 64
    requests = plan(args.docs, args.anchors, args.seed, args.max_tokens)
    exemplars = read_exemplars([str(ROOT / "corpora" / "scifact")])
    print("python " + " ".join(sys.argv))
    print(f"{datetime.datetime.now().isoformat(timespec='minutes')}, {machine()}")
    print(
        f"{args.docs} documents, max_tokens {requests[0].max_tokens}; kept: after"
        f" {', '.join(DEFAULT_FILTERS)} with default options",
        flush=True,
    )
    rows = [measure(label, options, requests, exemplars) for label, options in configs]
    base = rows[0]["tokens"] / rows[0]["elapsed"]
    width = max(16, *(len(label) for label, _ in configs))
    ratio = "x def" if args.default_only else "x seq"
    header = (
        f"| {'run':<{width}} | vocab   | batch | setup s | wall s | tokens/s | {ratio} |"
        " tokens/doc | docs/min | kept | kept docs/min |"
    )
    print("\n" + header)
    print("".join(c if c == "|" else "-" for c in header))
    for r in rows:
        minutes = r["elapsed"] / 60
        print(
            f"| {r['label']:<{width}} | {r['vocab']:<7} | {r['batch']:>5} | {r['setup']:7.1f} |"
            f" {r['elapsed']:6.1f} | {r['tokens'] / r['elapsed']:8.1f} |"
            f" {r['tokens'] / r['elapsed'] / base:5.2f} | {r['tokens'] / r['docs']:10.0f} |"
            f" {r['docs'] / minutes:8.1f} |"
            f" {r['kept']:4d} | {r['kept'] / minutes:13.1f} |"
        )
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
