"""Issue #10's table from the report of ``experiments/context.toml``: each step on its own and
all together, per dataset, as mean nDCG@10 over seeds and the paired difference from the
default synthetic context of the same J' (and from ``none``).

    zest experiment experiments/context.toml --db runs.db
    python benchmarks/context_table.py docs/results/context --db runs.db

Reads ``results.csv`` of the report directory and the per-query scores from the store; the
intervals are zest's report's (``zest_core.evaluation.report.difference``: paired bootstrap
over queries and seeds, the seeds drawn once for both arms when both come from the same
generation seeds, marked ‡; a results.csv written before issue #36 has no generation column,
and its differences are all drawn with independent seeds).
"""

import argparse
import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "plugins")]

from zest_core.corpus.store import Store  # noqa: E402
from zest_core.evaluation.evaluate import query_scores  # noqa: E402
from zest_core.evaluation.report import (  # noqa: E402  (the report's own wording)
    _cell,
    _pairing,
    _verdict,
    difference,
    scores,
)
from zest_core.evaluation.stats import mean_interval  # noqa: E402

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
    cells: dict[tuple, list[dict]] = {}
    for row in rows:
        integer = {k: int(row[k]) if row.get(k) else None for k in ("seed", "generation")}
        record = {**integer, "per_query": query_scores(store, int(row["result_id"]))}
        cells.setdefault((row["dataset"], row["arm"], row["encoder"]), []).append(record)

    def queries(*keys: tuple) -> list[str]:
        return sorted(set.intersection(*(set(r["per_query"]) for k in keys for r in cells[k])))

    datasets = list(dict.fromkeys(row["dataset"] for row in rows))
    heads = " | ".join(f"{d}: nDCG@10 | vs default | vs none" for d in datasets)
    print(f"| context | {heads} |")
    print("| --- |" + " --- | --- | --- |" * len(datasets))
    shown = []
    for label, arm, encoder, against in ROWS:
        line = [label]
        for dataset in datasets:
            if (dataset, arm, encoder) not in cells:
                line += ["-", "-", "-"]
                continue
            own = (dataset, arm, encoder)
            line.append(mean_interval(scores(cells[own], queries(own))).format())
            for other in (against, ("none", PLAIN)):
                if other is None or (arm, encoder) == other:
                    line.append("-")
                    continue
                common = queries(own, (dataset, *other))
                shown.append(d := difference(cells[own], cells[dataset, *other], common))
                line.append(f"{_cell(d)} {_verdict(d)}")
        print("| " + " | ".join(line) + " |")
    print("\n".join(_pairing(shown)))


if __name__ == "__main__":
    main()
