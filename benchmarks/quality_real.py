"""How many *real* abstracts the ``quality`` filter's defaults would drop (false alarms).

Runs the filter over a whole BEIR corpus with the shipped exemplars of that corpus and prints
the drops by reason, with examples.

    python benchmarks/quality_real.py scifact
    python benchmarks/quality_real.py nfcorpus -p max_non_alpha=0.25
"""

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from zest_core.corpus.exemplars import read_exemplars
from zest_core.plugin.options import parse_option_pairs
from zest_quality import Quality

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", choices=["scifact", "nfcorpus"])
    parser.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    with (ROOT.parent / "shared" / "data" / "beir" / args.dataset / "corpus.jsonl").open() as f:
        docs = [
            {"id": i, "ordinal": i, "text": json.loads(line)["text"]} for i, line in enumerate(f)
        ]
    exemplars = [
        {"ordinal": i, **e}
        for i, e in enumerate(read_exemplars([str(ROOT / "corpora" / args.dataset)]))
    ]
    drops = list(Quality(**parse_option_pairs(args.param)).drops(docs, exemplars))
    reasons = Counter(d.reason for d in drops)
    print(
        f"{args.dataset}: {len(drops)} of {len(docs)} real documents dropped"
        f" ({len(drops) / len(docs):.1%}): "
        + ", ".join(f"{reason} {n}" for reason, n in reasons.most_common())
    )
    for reason in reasons:
        example = next(d for d in drops if d.reason == reason)
        print(f"  e.g. {reason}: {example.detail}")
    print("reproduce: python benchmarks/quality_real.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
