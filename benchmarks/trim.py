"""The trimmed-vocabulary GGUF against the full one, in one process (docs/trimmed-vocabulary.md).

1. Decoding speed on one document plan (SciFact exemplars, the hierarchical templates,
   per-document seeds, as ``benchmarks/llama_batched.py`` builds it): sequential full, batched
   full and batched trimmed tokens/s, and their ratios.
2. Agreement: the trimmed model continues the shipped exemplar prompts greedily, and the full
   model is fed the same tokens; at each step, how often the full model's argmax is a dropped
   token, and whether the trimmed argmax equals the full one wherever it is kept.
3. End to end: ``zest run`` with ``-o vocab=full`` and ``-o vocab=trimmed`` (the trimmed copy
   built beforehand, its build timed on its own).

    python benchmarks/trim.py --docs 16 --max-tokens 128 --steps 2000 --run-docs 64
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

from zest_core import plugins
from zest_core.exemplars import read_exemplars
from zest_llama_cpp import LlamaCppGenerator, default_model_path
from zest_llama_cpp.trim import exemplar_texts, read_vocab, trimmed_model

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


def zest_run(vocab: str, docs: int, anchors: int, seed: int) -> float:
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
                "-o",
                f"vocab={vocab}",
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
    args = parser.parse_args()
    print("python " + " ".join(sys.argv))
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    source = default_model_path()
    exemplars = read_exemplars([str(CORPORA[0])])
    started = time.perf_counter()
    info = trimmed_model(source, exemplar_texts(exemplars))
    print(
        f"trimmed copy: {info['size']:,} of {info['source_size']:,} tokens,"
        f" {info['bytes'] / 1e6:.1f} MB of {os.path.getsize(source) / 1e6:.1f} MB"
        f" ({time.perf_counter() - started:.1f}s to get it)",
        flush=True,
    )

    requests = plan(args.docs, args.anchors, args.seed, args.max_tokens)
    rows = [
        ("sequential full", speed(requests, exemplars, batch_size=1)),
        ("batched full", speed(requests, exemplars)),
        ("batched trimmed", speed(requests, exemplars, vocab="trimmed")),
    ]
    base, batched_full = rows[0][1]["tok_s"], rows[1][1]["tok_s"]
    print("| mode | docs | tokens | seconds | tokens/s | vs sequential full | vs batched full |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in rows:
        print(
            f"| {name} | {r['docs']} | {r['tokens']} | {r['elapsed']:.1f} | {r['tok_s']:.1f}"
            f" | {r['tok_s'] / base:.2f}x | {r['tok_s'] / batched_full:.2f}x |",
            flush=True,
        )

    import llama_cpp

    load = dict(n_ctx=2048, n_threads=1, verbose=False)
    full = llama_cpp.Llama(source, **load)
    trimmed = llama_cpp.Llama(info["path"], **load)
    full_vocab, _ = read_vocab(source)
    trimmed_vocab, _ = read_vocab(info["path"])
    index = {text: i for i, text in enumerate(full_vocab.tokens)}
    keep = [index[text] for text in trimmed_vocab.tokens]
    prompts = [p for corpus in CORPORA for p in exemplar_prompts(corpus, args.prompts)]
    counts = agreement(full, trimmed, keep, prompts, args.steps // len(prompts))
    kept = counts["same"] + counts["differ"]
    print(
        f"agreement over {counts['steps']} greedy steps ({len(prompts)} prompts): full argmax"
        f" dropped at {counts['dropped']} ({counts['dropped'] / counts['steps']:.2%});"
        f" where kept, the trimmed argmax equals it at {counts['same']} of {kept}",
        flush=True,
    )
    full.close()
    trimmed.close()

    if args.run_docs:
        times = {
            vocab: zest_run(vocab, args.run_docs, args.run_anchors, args.seed)
            for vocab in ("full", "trimmed")
        }
        print(
            f"zest run --docs {args.run_docs} --anchors {args.run_anchors}: full"
            f" {times['full']:.0f}s, trimmed {times['trimmed']:.0f}s"
            f" ({times['full'] / times['trimmed']:.2f}x)"
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
