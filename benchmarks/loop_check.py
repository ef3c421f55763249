"""How many *real* abstracts the n-gram loop check would stop (false alarms), per setting.

Each abstract is tokenised with the default Gemma 3 270M tokenizer (vocabulary only, no
weights evaluated) and fed to ``LoopCheck`` token by token, as the llama.cpp generator does;
the word-level check (``loop_cut``) is run on the text as well. Prints, per setting, how many
abstracts trip it and the repeated span of the first few.

    python benchmarks/loop_check.py scifact
    python benchmarks/loop_check.py nfcorpus --setting 20x3 --setting 16x2
"""

import argparse
import json
from pathlib import Path

from zest_core.plugin.loops import LoopCheck, loop_cut
from zest_core.plugin.models import default_gguf

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ["8x3", "12x3", "16x3", "20x3", "24x3", "12x4", "16x2", "24x2"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", choices=["scifact", "nfcorpus"])
    parser.add_argument(
        "--setting", action="append", metavar="NGRAMxREPEATS", help=f"default: {' '.join(SETTINGS)}"
    )
    args = parser.parse_args()
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(default_gguf()), vocab_only=True, verbose=False)
    path = ROOT.parent / "shared" / "data" / "beir" / args.dataset / "corpus.jsonl"
    texts = [json.loads(line)["text"] for line in path.read_text().splitlines()]
    tokens = [llm.tokenize(t.encode(), add_bos=False) for t in texts]
    print(f"{args.dataset}: {len(texts)} abstracts")
    for setting in args.setting or SETTINGS:
        ngram, repeats = map(int, setting.split("x"))
        spans = []
        for ids in tokens:
            check = LoopCheck(ngram, repeats)
            if check.extend(ids):
                spans.append(llm.detokenize(check.items[-ngram:]).decode(errors="ignore"))
        print(f"tokens {setting}: {len(spans)} trip it, e.g. {spans[:3]}")
    for ngram in (8, 12):
        hits = sum(loop_cut(t, ngram=ngram) is not None for t in texts)
        print(f"words {ngram}x3: {hits} trip it")


if __name__ == "__main__":
    main()
