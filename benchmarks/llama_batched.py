"""Sequential llama-cpp-python completions vs the batched decoder, on one document plan.

Both generate the same plan as ``zest run`` would (SciFact exemplars, the hierarchical
templates, anchors taken from SciFact titles, per-document seeds), back to back in one process,
and the report gives tokens/s, documents/minute, their ratio, the projected time of a
512-document corpus, and where the time went.

    python benchmarks/llama_batched.py --docs 24 --batch-size 8 --workers 1,2

``--batch-size``, ``--workers`` and ``--batched-threads`` take comma-separated values; every
combination is measured (the sequential baseline runs on ``--threads``). ``--extra-buffers
on,off`` measures both settings of that generator option, sequential and batched, in
alternating rounds (``--rounds``), against the first setting's sequential run:

    python benchmarks/llama_batched.py --docs 8 --max-tokens 128 --extra-buffers on,off --rounds 2
"""

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

import llama_cpp

from zest_core.corpus.exemplars import read_exemplars
from zest_core.plugin import manager as plugins
from zest_core.plugin.strategy import derive_seed, plan_anchor
from zest_llama_cpp import LlamaCppGenerator

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = ROOT.parent / "shared" / "data" / "beir" / "scifact" / "corpus.jsonl"
TARGET_DOCS = 512


def plan(n_docs: int, n_anchors: int, seed: int, max_tokens: int | None, blocks: bool = False):
    """Document requests over ``n_anchors`` SciFact titles: taken in turn, or in contiguous
    blocks as ``zest run`` plans them (``blocks``)."""
    exemplars = read_exemplars([str(ROOT / "corpora" / "scifact")])
    strategy = plugins.get_anchor_strategy("hierarchical")()
    if max_tokens:
        strategy.templates["document"]["max_tokens"] = max_tokens
    with SCIFACT.open() as f:
        anchors = [json.loads(line)["title"] for line in itertools.islice(f, n_anchors)]
    return [
        strategy.document_request(
            exemplars,
            anchors[plan_anchor(j, n_docs, n_anchors) if blocks else j % n_anchors],
            j,
            derive_seed(seed, "document", 0, j, 0),
        )
        for j in range(n_docs)
    ]


def run(gen: LlamaCppGenerator, requests) -> dict:
    started, cpu_started = time.perf_counter(), time.process_time()
    done = list(gen.complete_many(iter(requests)))
    elapsed = time.perf_counter() - started
    assert sorted(r.key for r, _ in done) == [r.key for r in requests]
    return {
        "elapsed": elapsed,
        "docs": len(done),
        "tokens": sum(c.completion_tokens for _, c in done),
        "chars": sum(len(c.text) for _, c in done),  # text: a smaller vocabulary needs more tokens
        # CPU seconds of this process (all its threads): on a busy machine, where wall time
        # says more about the other jobs, tokens per CPU second still compare settings
        "cpu": time.process_time() - cpu_started,
        "completions": done,  # (request, completion) pairs, for callers that filter the texts
    }


def sequential(requests, threads: int, extra_buffers: str = "auto") -> dict:
    gen = LlamaCppGenerator(
        batch_size=1, n_threads=threads, vocab="full", extra_buffers=extra_buffers
    )
    try:
        llama_cpp.llama_perf_context_reset(gen.llm.ctx)
        first = run(gen, requests[:1])  # its prompt evaluation is the shared prefix: once a run
        rest = run(gen, requests[1:])
        perf = llama_cpp.llama_perf_context(gen.llm.ctx)
    finally:
        gen.close()
    total = first["elapsed"] + rest["elapsed"]
    prompt, decode = perf.t_p_eval_ms / 1000, perf.t_eval_ms / 1000
    return {
        "mode": f"sequential{_label(extra_buffers)}",
        "elapsed": total,
        "docs": len(requests),
        "tokens": first["tokens"] + rest["tokens"],
        "one_time": first["elapsed"],
        "steady": rest,
        "parts": {"prompt": prompt, "decode": decode, "sampling+python": total - prompt - decode},
    }


def batched(
    requests, batch_size: int, workers: int, threads: int, extra_buffers: str = "auto"
) -> dict:
    gen = LlamaCppGenerator(
        batch_size=batch_size,
        workers=workers,
        n_threads=threads,
        vocab="full",
        extra_buffers=extra_buffers,
    )
    try:
        result = run(gen, requests)
        timings = [decoder.timings for decoder in gen.decoders]
    finally:
        gen.close()
    # Workers run side by side: each part is the mean over workers of the wall time it took.
    parts = {
        part: sum(getattr(t, f"{part}_s") for t in timings) / workers
        for part in ("prefix", "prompt", "decode", "sample")
    }
    parts["python+waiting"] = result["elapsed"] - sum(parts.values())
    one_time = max(t.prefix_s for t in timings)
    # the prefix's CPU time is not separable per worker: it stays in the steady CPU figure
    steady = {**result, "elapsed": result["elapsed"] - one_time}
    return {
        **result,
        "mode": f"x{batch_size} {workers}w {threads}t{_label(extra_buffers)}",
        "one_time": one_time,
        "steady": steady,
        "parts": parts,
    }


def _label(extra_buffers: str) -> str:
    return "" if extra_buffers == "auto" else f" extra_buffers={extra_buffers}"


def rates(r: dict) -> tuple[float, float, float]:
    """Tokens/s end to end; tokens/s and docs/min once the shared prefix is evaluated (what a
    long run sees: the prefix is evaluated once per run)."""
    steady = r["steady"]
    return (
        r["tokens"] / r["elapsed"],
        steady["tokens"] / steady["elapsed"],
        steady["docs"] / steady["elapsed"] * 60,
    )


def report(r: dict, baseline: dict) -> None:
    tok_s, steady_tok_s, docs_min = rates(r)
    _, base_tok_s, base_docs_min = rates(baseline)
    projected = (r["one_time"] + TARGET_DOCS / docs_min * 60) / 60
    parts = ", ".join(f"{k} {v:.1f}s ({v / r['elapsed']:.0%})" for k, v in r["parts"].items())
    print(
        f"{r['mode']:>17}: {r['docs']} docs, {r['tokens']} tokens in {r['elapsed']:.1f}s"
        f" ({tok_s:.1f} tokens/s end to end); after the shared prefix ({r['one_time']:.1f}s"
        f" once):"
        f" {steady_tok_s:.1f} tokens/s, {docs_min:.1f} docs/min ="
        f" {steady_tok_s / base_tok_s:.2f}x / {docs_min / base_docs_min:.2f}x sequential;"
        f" {TARGET_DOCS} docs in ~{projected:.1f} min"
    )
    print(f"{'':>19}time: {parts}", flush=True)
    cpu = r["steady"]["cpu"]
    print(f"{'':>19}cpu: {r['steady']['tokens'] / cpu:.1f} tokens per CPU second", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=24)
    parser.add_argument("--anchors", type=int, default=8)
    parser.add_argument("--batch-size", default="8", help="sequences per worker")
    parser.add_argument("--workers", default="2", help="batched contexts, one thread each")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batched-threads", help="threads per worker; default: --threads")
    parser.add_argument("--max-tokens", type=int, help="default: the template's (256)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--extra-buffers", default="auto", help="generator option values")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every measurement")
    args = parser.parse_args()
    requests = plan(args.docs, args.anchors, args.seed, args.max_tokens)
    print("python " + " ".join(sys.argv))
    print(
        f"{args.docs} documents, sequential on {args.threads} thread(s), load average before:"
        f" {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
        flush=True,
    )
    settings = args.extra_buffers.split(",")
    threads = args.batched_threads or str(args.threads)
    base = None
    for _ in range(args.rounds):
        for extra in settings:  # alternating, so drifting load falls on every setting alike
            seq = sequential(requests, args.threads, extra)
            base = base or seq
            report(seq, base)
            for size, workers, n in itertools.product(
                args.batch_size.split(","), args.workers.split(","), threads.split(",")
            ):
                report(batched(requests, int(size), int(workers), int(n), extra), base)
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
