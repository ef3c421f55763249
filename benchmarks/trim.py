"""The trimmed-vocabulary GGUF against the full one, in one process (docs/trimmed-vocabulary.md).

1. Decoding speed on one document plan (SciFact exemplars, the hierarchical templates,
   per-document seeds, as ``benchmarks/llama_batched.py`` builds it): sequential full, then
   for each ``--batch-sizes`` batched full and batched trimmed at each ``--sizes``; tokens/s
   and characters/s (a smaller vocabulary spends more tokens on the same text), and their
   ratios to sequential full and to batched full at the same batch size.
2. Agreement, for each kept-set size: the trimmed model continues the shipped exemplar
   prompts greedily, and the full model is fed the same tokens; at each step, how often the
   full model's argmax is a dropped token, and whether the trimmed argmax equals the full one
   wherever it is kept.
3. End to end: ``zest run`` with ``-o vocab=full`` and ``-o vocab=trimmed`` (the trimmed copy
   built beforehand, its build timed on its own), both with ``--run-batch-size``, the
   trimmed one with ``--run-size`` tokens.

    python benchmarks/trim.py --docs 16 --max-tokens 128 --steps 2000 --run-docs 64
    python benchmarks/trim.py --sizes 32000,16000,8000 --batch-sizes 8,16 --run-docs 0
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from llama_batched import plan, run

from zest_core import default_gguf
from zest_core.corpus.exemplars import read_exemplars
from zest_core.plugin import manager as plugins
from zest_llama_cpp import LlamaCppGenerator, native
from zest_llama_cpp.trim import DEFAULT_SIZE, exemplar_texts, read_vocab, trimmed_model

ROOT = Path(__file__).resolve().parent.parent
CORPORA = [ROOT / "corpora" / "scifact", ROOT / "corpora" / "nfcorpus"]


def exemplar_prompts(corpus: Path, n: int) -> list[str]:
    """``n`` prompts of the shipped templates over ``corpus``'s exemplars: anchor prompts and
    document prompts whose anchor is an exemplar title."""
    exemplars = read_exemplars([str(corpus)])
    strategy = plugins.get_anchor_strategy("hierarchical")()
    prompts = []
    for i in range(n):
        if i % 2:
            prompts.append(strategy._anchor_request(exemplars, 0, i).prompt)
        else:
            title = exemplars[i // 2 % len(exemplars)]["title"]
            prompts.append(strategy.document_request(exemplars, title, i, i).prompt)
    return prompts


def last_logits(llm, tokens: list[int]) -> np.ndarray:
    import llama_cpp

    llm.eval(tokens)
    return np.ctypeslib.as_array(
        llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),)
    )


def agreement(full, trimmed, keep: list[int], prompts: list[str], steps: int) -> dict:
    """The trimmed model continues each prompt greedily for ``steps`` tokens while the full
    model is fed the same tokens one at a time, so both compute each step the same way.
    Counts the steps whose full argmax is a kept token that the trimmed argmax equals
    (``same``) or does not (``differ``), and those whose full argmax was dropped."""
    new_id = {old: new for new, old in enumerate(keep)}
    counts = {"same": 0, "differ": 0, "dropped": 0}
    for prompt in prompts:
        tokens = trimmed.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        full.reset()
        trimmed.reset()
        full_logits = last_logits(full, [keep[t] for t in tokens])
        trimmed_logits = last_logits(trimmed, tokens)
        for _ in range(steps):
            best, choice = int(np.argmax(full_logits)), int(np.argmax(trimmed_logits))
            if best not in new_id:
                counts["dropped"] += 1
            else:
                counts["same" if new_id[best] == choice else "differ"] += 1
            if choice == trimmed.token_eos():
                break
            full_logits = last_logits(full, [keep[choice]])
            trimmed_logits = last_logits(trimmed, [choice])
    counts["steps"] = sum(counts.values())
    return counts


def speed(requests, exemplars, **options) -> dict:
    gen = LlamaCppGenerator(**options)
    try:
        gen.prepare(exemplars)
        result = run(gen, requests)
    finally:
        gen.close()
    return {**result, "tok_s": result["tokens"] / result["elapsed"]}


def zest_run(options: dict, docs: int, anchors: int, seed: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-c",
                "from zest_core.cli import main; main()",
                "run",
                "--exemplars",
                str(CORPORA[0]),
                "--anchors",
                str(anchors),
                "--docs",
                str(docs),
                "--seed",
                str(seed),
                "--db",
                str(Path(tmp) / "z.db"),
                *(arg for key, value in options.items() for arg in ("-o", f"{key}={value}")),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=16, help="documents of the speed plan")
    parser.add_argument("--anchors", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--steps", type=int, default=2000, help="greedy steps in all")
    parser.add_argument("--prompts", type=int, default=4, help="prompts per exemplar set")
    parser.add_argument("--run-docs", type=int, default=64, help="0 skips the zest runs")
    parser.add_argument("--run-anchors", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sizes", default=str(DEFAULT_SIZE), help="kept-set sizes, comma list")
    parser.add_argument("--batch-sizes", default="8", help="batch_size values, comma-separated")
    parser.add_argument("--no-sequential", action="store_true", help="skip sequential full")
    parser.add_argument("--run-size", type=int, default=DEFAULT_SIZE)
    parser.add_argument("--run-batch-size", type=int, default=8)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    print("python " + " ".join(sys.argv))
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    source = default_gguf()
    exemplars = read_exemplars([str(CORPORA[0])])
    copies = {}
    for size in sorted(set(sizes) | ({args.run_size} if args.run_docs else set())):
        started = time.perf_counter()
        copies[size] = info = trimmed_model(source, exemplar_texts(exemplars), size)
        print(
            f"trimmed copy: {info['size']:,} of {info['source_size']:,} tokens,"
            f" {info['bytes'] / 1e6:.1f} MB of {os.path.getsize(source) / 1e6:.1f} MB"
            f" ({time.perf_counter() - started:.1f}s to get it)",
            flush=True,
        )

    requests = plan(args.docs, args.anchors, args.seed, args.max_tokens)
    sequential = (
        None if args.no_sequential else speed(requests, exemplars, batch_size=1, vocab="full")
    )
    print(
        "| mode | batch | docs | tokens | chars | seconds | tokens/s | chars/s"
        " | vs sequential full | vs batched full: tokens/s | chars/s |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")

    def row(name: str, batch: int, r: dict, full: dict) -> None:
        vs_sequential = f"{r['tok_s'] / sequential['tok_s']:.2f}x" if sequential else "-"
        chars_s, full_chars_s = r["chars"] / r["elapsed"], full["chars"] / full["elapsed"]
        print(
            f"| {name} | {batch} | {r['docs']} | {r['tokens']} | {r['chars']} | {r['elapsed']:.1f}"
            f" | {r['tok_s']:.1f} | {chars_s:.0f} | {vs_sequential}"
            f" | **{r['tok_s'] / full['tok_s']:.2f}x** | {chars_s / full_chars_s:.2f}x |",
            flush=True,
        )

    if sequential:
        row("sequential full", 1, sequential, sequential)
    for batch in [int(b) for b in args.batch_sizes.split(",")]:
        full = speed(requests, exemplars, batch_size=batch, vocab="full")
        row("batched full", batch, full, full)
        for size in sizes:
            trimmed = speed(requests, exemplars, batch_size=batch, vocab="trimmed", vocab_size=size)
            row(f"batched trimmed {size:,}", batch, trimmed, full)

    load = dict(n_ctx=2048, n_threads=1, verbose=False)
    full = native.load(source, **load)
    full_vocab, _ = read_vocab(source)
    index = {text: i for i, text in enumerate(full_vocab.tokens)}
    prompts = [p for corpus in CORPORA for p in exemplar_prompts(corpus, args.prompts)]
    for size in sizes:
        trimmed = native.load(copies[size]["path"], **load)
        keep = [index[text] for text in read_vocab(copies[size]["path"])[0].tokens]
        counts = agreement(full, trimmed, keep, prompts, args.steps // len(prompts))
        kept = counts["same"] + counts["differ"]
        print(
            f"agreement at {size:,} over {counts['steps']} greedy steps ({len(prompts)} prompts):"
            f" full argmax dropped at {counts['dropped']}"
            f" ({counts['dropped'] / counts['steps']:.2%});"
            f" where kept, the trimmed argmax equals it at {counts['same']} of {kept}",
            flush=True,
        )
        trimmed.close()
    full.close()

    if args.run_docs:
        batch = {"batch_size": args.run_batch_size}
        times = {
            name: zest_run({**batch, **options}, args.run_docs, args.run_anchors, args.seed)
            for name, options in (
                ("full", {"vocab": "full"}),
                ("trimmed", {"vocab": "trimmed", "vocab_size": args.run_size}),
            )
        }
        print(
            f"zest run --docs {args.run_docs} --anchors {args.run_anchors}"
            f" (batch_size {args.run_batch_size}, trimmed to {args.run_size:,}): full"
            f" {times['full']:.0f}s, trimmed {times['trimmed']:.0f}s"
            f" ({times['full'] / times['trimmed']:.2f}x)"
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
