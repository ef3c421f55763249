"""Where a batched decode step's time goes: the time of one llama_decode call by batch, prompt
prefix and KV settings, on the trimmed model the README's job runs.

Each setting builds a context as ``BatchedDecoder`` does (``context_params``), evaluates a
prefix of ``prefix`` tokens into sequence 0, shares it with ``batch`` sequences, gives each
``own`` tokens of its own (a document part-written), then times ``--steps`` decode calls of one
token per sequence. The tokens are fixed ids, not text: a step's cost does not depend on them.

    python benchmarks/decode_step.py prefix=16,batch=8 prefix=1100,batch=8,own=100 \\
        prefix=1100,batch=16,own=100 prefix=1100,batch=16,own=100,kv=q8_0 \\
        prefix=1100,batch=16,own=100,flash=off

Keys: ``prefix`` (tokens, default 1100: five exemplars of 160 words, the document prompt),
``batch`` (sequences, default 16), ``own`` (tokens per sequence, default 0), ``kv`` (KV cache
type: f16, the default, f32, bf16 or q8_0), ``flash`` (on/off), ``threads`` (default 1),
``unified`` (on: one KV buffer for all sequences, as zest runs; off: one per sequence, the
prefix copied into each), ``masked`` (tokens written into sequence 0 after the prefix, which no
timed sequence attends to: the price of the cells a step scans and masks, such as those
``kv_cells.py`` counts in a real run; default 0).
``--model`` times another GGUF (default: the trimmed copy for the SciFact exemplars, built
into the user cache when missing).
"""

import argparse
import datetime
import os
import sys
import time
from pathlib import Path

import llama_cpp
from llama_cpp._utils import suppress_stdout_stderr
from throughput import machine

from zest_core import default_gguf
from zest_core.corpus.exemplars import read_exemplars
from zest_llama_cpp import native
from zest_llama_cpp.batched import context_params, fill_batch
from zest_llama_cpp.trim import exemplar_texts, trimmed_model

ROOT = Path(__file__).resolve().parent.parent
KV_TYPES = {"f16": 1, "f32": 0, "bf16": 30, "q8_0": 8}  # ggml_type values
DEFAULTS = {
    "prefix": 1100,
    "batch": 16,
    "own": 0,
    "kv": "f16",
    "flash": "on",
    "threads": 1,
    "unified": "on",
    "masked": 0,
}


def setting(text: str) -> dict:
    pairs = dict(pair.split("=", 1) for pair in text.split(",") if pair)
    unknown = set(pairs) - set(DEFAULTS)
    if unknown:
        sys.exit(f"unknown keys in {text!r}: {', '.join(sorted(unknown))}")
    return {**DEFAULTS, **pairs}


def token(i: int) -> int:
    return 1000 + (7 * i) % 20000  # ids below every kept set's size


def step_seconds(llm, s: dict, steps: int) -> float | None:
    """Seconds per decode step, or None where llama.cpp refuses the context (a quantised V
    cache needs flash attention)."""
    batch_n, prefix, own, masked = (int(s[k]) for k in ("batch", "prefix", "own", "masked"))
    n_ctx = prefix + own + steps + masked + 1
    params = context_params(n_ctx, batch_n, 512, int(s["threads"]), s["flash"] == "on")
    params.type_k = params.type_v = KV_TYPES[s["kv"]]
    params.kv_unified = s["unified"] == "on"
    with suppress_stdout_stderr(disable=False):
        ctx = llama_cpp.llama_init_from_model(llm.model, params)
    if not ctx:
        return None
    memory = llama_cpp.llama_get_memory(ctx)
    batch = llama_cpp.llama_batch_init(512, 0, 1)

    def decode(entries):
        for start in range(0, len(entries), 512):
            if llama_cpp.llama_decode(ctx, fill_batch(batch, entries[start : start + 512])) != 0:
                sys.exit(f"llama_decode failed for {s}")

    sequences = range(1, batch_n + 1)
    try:
        decode([(0, i, token(i), False) for i in range(prefix)])
        for seq in sequences:
            llama_cpp.llama_memory_seq_cp(memory, 0, seq, -1, -1)
        decode([(0, prefix + i, token(i), False) for i in range(masked)])
        decode([(seq, prefix + i, token(seq + i), False) for seq in sequences for i in range(own)])
        started = time.perf_counter()
        for k in range(steps):
            decode([(seq, prefix + own + k, token(seq * k), True) for seq in sequences])
        return (time.perf_counter() - started) / steps
    finally:
        llama_cpp.llama_batch_free(batch)
        llama_cpp.llama_free(ctx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="+", metavar="KEY=VALUE,...")
    parser.add_argument("--model", help="a GGUF (default: the trimmed SciFact copy)")
    parser.add_argument("--steps", type=int, default=24)
    args = parser.parse_args()
    settings = [setting(text) for text in args.settings]
    model = args.model
    if model is None:
        exemplars = read_exemplars([str(ROOT / "corpora" / "scifact")])
        model = trimmed_model(default_gguf(), exemplar_texts(exemplars))["path"]
    llm = native.load(model, n_ctx=512, n_threads=1, verbose=False)
    print("python " + " ".join(sys.argv))
    print(f"{datetime.datetime.now().isoformat(timespec='minutes')}, {machine()}")
    print(f"model {model}\n")
    print("| " + " | ".join(DEFAULTS) + " | ms/step | tokens/s |")
    print("|---" * (len(DEFAULTS) + 2) + "|")
    for s in settings:
        seconds = step_seconds(llm, s, args.steps)
        timing = (
            "refused by llama.cpp | |"
            if seconds is None
            else f"{seconds * 1000:.1f} | {int(s['batch']) / seconds:.1f} |"
        )
        row = [s[key] for key in DEFAULTS]
        print("| " + " | ".join(map(str, row)) + f" | {timing}", flush=True)
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
