"""The report's difference plots: each arm minus the reference, with paired intervals."""

import random

import matplotlib

from zest_core.experiment import report
from zest_core.experiment.plots import difference_plots, reference_arm

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def record(arm, seed, shift, n=40):
    rng = random.Random(f"{arm}{seed}")
    per_query = {
        f"q{i}": {
            "ndcg_at_10": min(1.0, max(0.0, 0.4 + shift + 0.2 * rng.random())),
            "recall_at_100": 0.5,
        }
        for i in range(n)
    }
    return {
        "dataset": "toy",
        "encoder": "dense",
        "arm": arm,
        "axis": None,
        "value": None,
        "seed": seed,
        "context": arm,
        "version": None,
        "result_id": 1,
        "config": {},
        "per_query": per_query,
        "ndcg_at_10": 0.5,
        "recall_at_100": 0.5,
        "queries": n,
    }


def test_one_difference_plot_per_section_beside_the_absolute_table(tmp_path):
    records = [record("none", None, 0.0)]
    records += [record("synthetic", seed, 0.05) for seed in (0, 1)]
    records += [record("adapted", seed, 0.15) for seed in (0, 1)]
    summary = report.Summary(records)
    assert reference_arm(summary) == "synthetic"
    written = difference_plots(plt, tmp_path, {("toy", "dense"): summary})
    assert [p.name for p in written] == ["difference_toy_dense.png"]
    assert written[0].read_bytes().startswith(b"\x89PNG")
    assert summary.delta("adapted", "synthetic").low > 0  # the plotted interval
