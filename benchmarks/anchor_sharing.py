"""Documents taking their anchor's prompt cells from a running sibling, against evaluating them.

One plan as ``zest run`` makes it (SciFact's exemplars, the hierarchical templates, anchors
from SciFact titles in contiguous blocks, per-document seeds), generated with the defaults
(trimmed vocabulary, batch 16, 2 workers) with sharing on and off in alternating rounds in
one process, so the machine's drift falls on both alike:

    python benchmarks/anchor_sharing.py --docs 64 --anchors 3 --rounds 2
"""

import argparse
import datetime
import itertools
import time

from llama_batched import ROOT, plan
from throughput import machine

from zest_core.corpus.exemplars import read_exemplars
from zest_llama_cpp import LlamaCppGenerator
from zest_llama_cpp.batched import BatchedDecoder, Timings

SHARING = BatchedDecoder._donor


def no_donor(self, tokens, shared, running):
    return None, shared


def measure(gen: LlamaCppGenerator, requests: list, share: bool) -> dict:
    BatchedDecoder._donor = SHARING if share else no_donor
    for decoder in gen.decoders:
        decoder.timings = Timings()
    started = time.perf_counter()
    done = list(gen.complete_many(iter(requests)))
    elapsed = time.perf_counter() - started
    timings = [decoder.timings for decoder in gen.decoders]
    generated = sum(c.completion_tokens for _, c in done)
    evaluated = sum(t.prompt_tokens + t.generated_tokens for t in timings)
    return {"elapsed": elapsed, "generated": generated, "evaluated": evaluated}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=64)
    parser.add_argument("--anchors", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    requests = plan(args.docs, args.anchors, seed=0, max_tokens=None, blocks=True)
    gen = LlamaCppGenerator()
    gen.prepare(read_exemplars([str(ROOT / "corpora" / "scifact")]))
    print(f"{datetime.datetime.now():%Y-%m-%dT%H:%M}, {machine()}")
    print("| round | sharing | seconds | generated tokens | tokens through the model | tokens/s |")
    print("|---|---|---|---|---|---|")
    totals = {True: [0.0, 0], False: [0.0, 0]}
    try:
        for round_, share in itertools.product(range(1, args.rounds + 1), (True, False)):
            r = measure(gen, requests, share)
            totals[share][0] += r["elapsed"]
            totals[share][1] += r["generated"]
            print(
                f"| {round_} | {'on' if share else 'off'} | {r['elapsed']:.1f} |"
                f" {r['generated']} | {r['evaluated']} | {r['generated'] / r['elapsed']:.1f} |"
            )
    finally:
        gen.close()
    on, off = (totals[s][1] / totals[s][0] for s in (True, False))
    print(f"\ngenerated tokens/s, all rounds: on {on:.1f}, off {off:.1f}: {on / off:.3f}x")


if __name__ == "__main__":
    main()
