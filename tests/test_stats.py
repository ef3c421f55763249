"""Seed pairing (issue #36): arms built from the same generation seeds draw their seeds
together, arms that do not draw them apart; every report table says which; a report is
recomputed from its own results.csv and scores.csv.gz, from per-query scores kept in a real
store."""

import gzip
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from zest_core.cli import cli
from zest_core.evaluation import report, report_records
from zest_core.evaluation.evaluate import query_scores
from zest_core.evaluation.stats import paired_difference, seed_pairing

SEEDS, QUERIES = 3, 400


def two_arms(rng, shift=0.01, spread=0.15):
    """(seeds, queries) scores of an arm ``b`` whose seeds disagree by ``spread`` and an arm
    ``a`` built on the same seeds, ``shift`` higher within every seed."""
    difficulty = rng.uniform(0.2, 0.8, QUERIES)
    seed_effect = np.linspace(-spread, spread, SEEDS)[:, None]
    b = difficulty + seed_effect + rng.normal(0, 0.05, (SEEDS, QUERIES))
    return b + shift + rng.normal(0, 0.02, (SEEDS, QUERIES)), b


def test_seed_paired_interval_keeps_a_within_seed_difference_clear_of_zero():
    a, b = two_arms(np.random.default_rng(36))
    for seed in range(SEEDS):  # each seed on its own: clear of zero by its query bootstrap
        assert paired_difference(a[seed], b[seed]).low > 0
    paired = paired_difference(a, b, seed_paired=True)
    independent = paired_difference(a, b)
    assert paired.seed_paired and not independent.seed_paired
    assert paired.mean == pytest.approx(independent.mean) == pytest.approx((a - b).mean())
    assert paired.low > 0 and not paired.covers_zero
    assert independent.covers_zero  # the seed spread added back: too wide to tell
    assert independent.low < paired.low <= paired.high < independent.high
    # one sign-flip test for both: the per-query differences averaged over the seeds
    assert paired.p_value == independent.p_value < 0.001


def test_seed_paired_interval_keeps_the_seed_to_seed_variation_of_the_difference():
    """Pairing removes the spread both arms share, not the spread of the difference: a
    difference that changes sign from seed to seed stays within noise."""
    rng = np.random.default_rng(5)
    a, b = two_arms(rng, shift=0.0)
    a = a + np.array([-0.03, 0.0, 0.03])[:, None]
    paired = paired_difference(a, b, seed_paired=True)
    assert paired.covers_zero
    assert paired.high - paired.low > 0.03


def test_seed_paired_scores_need_the_same_seeds():
    a, b = two_arms(np.random.default_rng(1))
    with pytest.raises(ValueError, match="same seeds"):
        paired_difference(a[:2], b, seed_paired=True)


def test_seed_pairing_of_generation_keys():
    keys = [(0, 11), (1, 12), (2, 13)]
    assert seed_pairing(keys, keys) == [0, 1, 2]
    assert seed_pairing(keys, keys[::-1]) == [2, 1, 0]  # b's rows put in a's seed order
    assert seed_pairing(keys, [(0, 11), (1, 12), (3, 14)]) is None  # other seeds
    assert seed_pairing(keys, [(0, 11), (1, 12), (2, 99)]) is None  # another generation
    assert seed_pairing(keys, keys[:2]) is None
    assert seed_pairing([None], [None]) is None  # no seed: real:512, none, generic
    assert seed_pairing(keys, [None]) is None
    assert seed_pairing([(0, 11), (0, 11)], [(0, 11), (0, 11)]) is None


def record(arm, seed, generation, per_query, result_id, axis=None, config=None):
    return {
        "dataset": "d",
        "encoder": "hybrid",
        "arm": arm,
        "axis": axis,
        "value": None if axis is None else "x",
        "config": config,
        "seed": seed,
        "context": f"context of {arm}",
        "version": None if seed is None else 100 + result_id,
        "generation": generation,
        "result_id": result_id,
        "ndcg_at_10": float(np.mean([s["ndcg_at_10"] for s in per_query.values()])),
        "recall_at_100": float(np.mean([s["recall_at_100"] for s in per_query.values()])),
        "per_query": per_query,
    }


@pytest.fixture
def records(store):
    """A section of three seeded arms and one without seeds, their per-query scores stored in
    (and read back from) a real store: ``synthetic`` and ``k=1`` share generations 0, 1 and
    2; ``other`` was generated with seeds 0, 1 and 3."""
    rng = np.random.default_rng(36)
    a, b = two_arms(rng)
    c, _ = two_arms(rng, shift=0.0)
    arms = [("synthetic", b, [0, 1, 2]), ("k=1", a, [0, 1, 2]), ("other", c, [0, 1, 3])]
    config = {"docs": 8, "k": 2, "strategy": "hierarchical"}
    out, none = [], np.clip(b.mean(axis=0) - 0.05, 0, 1)
    for arm, matrix, seeds in [("none", none[None, :], [None])] + arms:
        rows = list(zip(seeds, np.clip(matrix, 0, 1)))
        if arm == "k=1":
            rows = rows[::-1]  # stored in another seed order: paired by seed, not by row
        for seed, row in rows:
            scores = {f"q{i}": {"ndcg_at_10": s, "recall_at_100": s / 2} for i, s in enumerate(row)}
            fields = {"dataset": "d", "encoder": "hybrid", "context": arm, "settings": "{}"}
            result_id = store.add_eval_result(
                {**fields, "ndcg_at_10": row.mean(), "recall_at_100": row.mean() / 2}, scores
            )
            generation = None if seed is None else {0: 7, 1: 8, 2: 9, 3: 10}[seed]
            axis = None if arm == "none" else "k" if arm == "k=1" else "*"
            conf = None if arm == "none" else {**config, "k": 1 if arm == "k=1" else 2}
            per_query = query_scores(store, result_id)  # as the experiment reads them
            out.append(record(arm, seed, generation, per_query, result_id, axis, conf))
    return out


def test_report_pairs_the_arms_that_share_their_generations(records):
    arms = {}
    for r in records:
        arms.setdefault(r["arm"], []).append(r)
    queries = sorted(records[0]["per_query"])
    paired = report_records.difference(arms["k=1"], arms["synthetic"], queries)
    assert paired.seed_paired and not paired.covers_zero
    by_seed = sorted(arms["k=1"], key=lambda r: r["seed"])
    matrix = {arm: report_records.scores(rows, queries) for arm, rows in arms.items()}
    assert paired == paired_difference(
        report_records.scores(by_seed, queries), matrix["synthetic"], seed_paired=True
    )
    for arm in ("other", "none"):  # other seeds, no seeds: each arm's seeds drawn apart
        fallback = report_records.difference(arms[arm], arms["synthetic"], queries)
        assert fallback == paired_difference(matrix[arm], matrix["synthetic"])
        assert not fallback.seed_paired


GRID = SimpleNamespace(
    name="constructed", path="constructed.toml", part=None, seeds=[0, 1, 2], base={"docs": 8},
    notes=None,
)  # fmt: skip
INFO = {"seconds": 1.0, "generated": 0, "scored": 7, "reused": 3, "notes": []}


def test_every_table_says_how_its_intervals_are_paired(records, tmp_path):
    report.write(tmp_path, GRID, records, INFO)
    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    tables = [
        part
        for part in text.split("\n\n")
        if part.startswith("| ") and ("difference [95% CI]" in part or "ours [95% CI]" in part)
    ]
    assert len(tables) == 3  # baselines, ablations, the paper's claims
    notes = [line for line in text.splitlines() if line.startswith("Intervals: ")]
    assert len(notes) == len(tables)
    lines = text.splitlines()
    ablation = next(line for line in lines if line.startswith("| k=1 |") and "p=" in line)
    assert f"{report.MARK} | higher |" in ablation  # paired by seed: clear of zero
    baseline = next(line for line in lines if line.startswith("| none |") and "p=" in line)
    assert report.MARK not in baseline and "| within noise |" in baseline  # the seed spread
    assert f"{report.MARK} {report.PAIRED}" in text and report.INDEPENDENT in text


def test_a_report_is_recomputed_from_its_own_scores(records, tmp_path):
    written = report.write(tmp_path / "r", GRID, records, INFO)
    assert tmp_path / "r" / "scores.csv.gz" in written
    first = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    results = (tmp_path / "r" / "results.csv").read_bytes()
    with gzip.open(tmp_path / "r" / "scores.csv.gz", "rt") as f:
        assert len(f.readlines()) == 1 + len({r["result_id"] for r in records}) * QUERIES
    loaded = report_records.load(tmp_path / "r")
    assert [r["per_query"] for r in loaded] == [r["per_query"] for r in records]  # exact
    assert [r["config"] for r in loaded] == [r["config"] for r in records]
    assert [report_records.generation(r) for r in loaded] == [
        report_records.generation(r) for r in records
    ]
    result = CliRunner().invoke(cli, ["results", "report", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    again = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    recomputed = [line for line in again.splitlines() if line.startswith("- recomputed ")]
    assert len(recomputed) == 1 and "zest results report" in recomputed[0]
    assert again.replace(recomputed[0] + "\n", "") == first  # same scores, same report
    assert (tmp_path / "r" / "results.csv").read_bytes() == results


def test_a_report_without_its_scores_cannot_be_recomputed(records, tmp_path):
    report.write(tmp_path, GRID, records, INFO)
    (tmp_path / "scores.csv.gz").unlink()
    result = CliRunner().invoke(cli, ["results", "report", str(tmp_path)])
    assert result.exit_code == 1 and result.output.count("Error:") == 1
    assert "has no scores.csv.gz" in result.output
