"""Issue #10's table from the report of ``experiments/context.toml``: each step on its own and
all together, per dataset, as mean nDCG@10 over seeds and the paired difference from the
default synthetic context of the same J' (and from ``none``).

    zest experiment experiments/context.toml --db runs.db
    python benchmarks/context_table.py docs/results/context --db runs.db

Reads ``results.csv`` of the report directory and the per-query scores from the store; the
intervals are zest's (``zest_core.experiment.stats``: paired bootstrap over queries and seeds).
"""

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from zest_core.contexts.scoring import query_scores  # noqa: E402
from zest_core.corpus.store import Store  # noqa: E402
from zest_core.experiment.formatting import verdict as _verdict  # noqa: E402 (the report's)
from zest_core.experiment.stats import mean_interval, paired_difference  # noqa: E402

PLAIN, PRIOR = "hybrid", "hybrid[prior=wordfreq,prior_strength=100]"
TUNED, BOTH = f"{PLAIN} tuned on 64 docs", f"{PRIOR} tuned on 64 docs"
# (row label, arm, encoder, the default it is read against)
ROWS = [
    ("none", "none", PLAIN, None),
    ("real:512", "real:512", PLAIN, None),
    ("default synthetic (J' 512)", "synthetic", PLAIN, None),
    ("+ prior", "synthetic", PRIOR, ("synthetic", PLAIN)),
    ("+ tuning", "synthetic", TUNED, ("synthetic", PLAIN)),
    ("+ prior + tuning", "synthetic", BOTH, ("synthetic", PLAIN)),
    ("default synthetic (J' 128)", "reference", PLAIN, None),
    ("+ diverse anchors (J' 128)", "strategy=diverse", PLAIN, ("reference", PLAIN)),
    ("all together (J' 128)", "strategy=diverse", BOTH, ("reference", PLAIN)),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--db", required=True)
    args = parser.parse_args()
    store = Store(args.db)
    with (args.report / "results.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    cells: dict[tuple, list[int]] = {}
    for row in rows:
        cells.setdefault((row["dataset"], row["arm"], row["encoder"]), []).append(
            int(row["result_id"])
        )
    per_query = {i: query_scores(store, i) for ids in cells.values() for i in ids}

    def matrix(key: tuple) -> np.ndarray:  # seeds x queries, queries in one order
        ids = cells[key]
        queries = sorted(per_query[ids[0]])
        return np.array([[per_query[i][q]["ndcg_at_10"] for q in queries] for i in ids])

    datasets = list(dict.fromkeys(row["dataset"] for row in rows))
    heads = " | ".join(f"{d}: nDCG@10 | vs default | vs none" for d in datasets)
    print(f"| context | {heads} |")
    print("| --- |" + " --- | --- | --- |" * len(datasets))
    for label, arm, encoder, against in ROWS:
        line = [label]
        for dataset in datasets:
            if (dataset, arm, encoder) not in cells:
                line += ["-", "-", "-"]
                continue
            own = matrix((dataset, arm, encoder))
            line.append(mean_interval(own).format())
            for other in (against, ("none", PLAIN)):
                if other is None or (arm, encoder) == other:
                    line.append("-")
                    continue
                d = paired_difference(own, matrix((dataset, *other)))
                line.append(f"{d.format()} {_verdict(d)}")
        print("| " + " | ".join(line) + " |")


if __name__ == "__main__":
    main()
