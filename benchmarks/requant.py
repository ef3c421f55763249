"""Requantised copies of the trimmed model: does a cheaper weight format keep the model?

Issue #20 asked whether a Q4_0 or Q8_0 requantisation of the trimmed model decodes faster at
equal quality. Gemma 3 270M's Q4_K_M file stores most of its matrices as Q5_0 (their rows of
640 are not a multiple of the K-quants' 256), a format llama.cpp's CPU backend does not
repack; Q4_0 it repacks for AVX2, Q8_0 has the simplest dot product. This script writes
copies of the trimmed model zest uses for SciFact's exemplars (into /tmp/zest-requant by
default) whose Q5_0 tensors (or every quantised matrix) are re-quantised by gguf-py, and
prints each one's perplexity on real SciFact documents (the text a generator should
imitate). Speed is measured by ``throughput.py``, which takes a model path:

    python benchmarks/requant.py                     # writes the copies, prints perplexities
    python benchmarks/throughput.py --default-only \\
        --try model=/tmp/zest-requant/q5_0-to-q8_0.gguf,vocab=full \\
        --try model=/tmp/zest-requant/q5_0-to-q4_0.gguf,vocab=full
"""

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import quants
from llama_batched import ROOT, SCIFACT

from zest_core.corpus.exemplars import read_exemplars
from zest_core.plugin.models import default_gguf
from zest_llama_cpp import native
from zest_llama_cpp.trim import copy_gguf, exemplar_texts, open_gguf, trimmed_model

VARIANTS = {  # name: (target type, source types re-quantised)
    "q5_0-to-q8_0": (Q.Q8_0, {Q.Q5_0}),
    "q5_0-to-q4_0": (Q.Q4_0, {Q.Q5_0}),
    "all-to-q8_0": (Q.Q8_0, {Q.Q5_0, Q.Q4_K, Q.Q6_K}),
}


def requantise(source: Path, dest: Path, target: Q, types: set) -> int:
    reader = open_gguf(source)
    tensors = {
        t.name: (quants.quantize(quants.dequantize(t.data, t.tensor_type), target), target)
        for t in reader.tensors
        if t.tensor_type in types
    }
    copy_gguf(reader, dest, {}, {}, tensors)
    return len(tensors)


def perplexity(path: Path, texts: list[str]) -> tuple[float, int]:
    llm = native.load(str(path), n_ctx=512, n_threads=1, verbose=False, logits_all=True)
    nll, n = 0.0, 0
    for text in texts:
        tokens = llm.tokenize(text.encode())[:256]
        llm.reset()
        llm.eval(tokens)
        logits = np.asarray(llm.scores[: len(tokens) - 1], dtype=np.float64)
        logp = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        nll -= logp[np.arange(len(tokens) - 1), tokens[1:]].sum()
        n += len(tokens) - 1
    return float(np.exp(nll / n)), n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/zest-requant", help="folder for the copies")
    parser.add_argument("--docs", type=int, default=20, help="SciFact documents scored")
    args = parser.parse_args()
    exemplars = read_exemplars([str(ROOT / "corpora" / "scifact")])
    trimmed = Path(trimmed_model(default_gguf(), exemplar_texts(exemplars))["path"])
    with SCIFACT.open() as f:  # every 20th of the first 20 x docs
        rows = [json.loads(line) for line in itertools.islice(f, 20 * args.docs)][::20]
    texts = [f"{r['title']}\n{r['text']}" for r in rows]
    print("python " + " ".join(sys.argv))
    print(f"trimmed copy: {trimmed}")
    print("\n| model | tensors re-quantised | MB | perplexity | tokens |\n|---|---|---|---|---|")
    row("trimmed, as shipped (Q5_0, Q4_K, Q6_K, Q8_0)", trimmed, 0, texts)
    for name, (target, types) in VARIANTS.items():
        dest = Path(args.out) / f"{name}.gguf"
        row(f"{name} ({dest})", dest, requantise(trimmed, dest, target, types), texts)


def row(label: str, path: Path, changed: int, texts: list[str]) -> None:
    ppl, n = perplexity(path, texts)
    size = path.stat().st_size / 1e6
    print(f"| {label} | {changed} | {size:.0f} | {ppl:.2f} | {n} |", flush=True)


if __name__ == "__main__":
    main()
