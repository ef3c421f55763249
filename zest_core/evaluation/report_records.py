"""The records of an experiment report, kept beside it: ``results.csv`` (one row per score)
and ``scores.csv.gz`` (every scored query of every result), from which ``zest results report``
recomputes the report without the store; and the paired difference of two arms' records,
paired by seed when both come from the same generations (issue #36)."""

import csv
import gzip
import io
import json
from pathlib import Path

import numpy as np

from .stats import Interval, paired_difference, seed_pairing

CSV_COLUMNS = (
    "dataset",
    "encoder",
    "arm",
    "axis",
    "value",
    "seed",
    "context",
    "version",
    "result_id",
    "ndcg_at_10",
    "recall_at_100",
    "queries",
    "generation",
    "config",
)
SCORES = "scores.csv.gz"  # the per-query scores a report is recomputed from
SCORE_COLUMNS = ("result_id", "query", "ndcg_at_10", "recall_at_100")


def generation(record: dict) -> tuple | None:
    """What a record's seed pairs it with: (generation seed, the version that names the
    dataset's generation of that seed in this run); None for a record without a seed."""
    if record.get("seed") is None or record.get("generation") is None:
        return None
    return record["seed"], record["generation"]


def scores(records: list[dict], queries: list[str], metric: str = "ndcg_at_10") -> np.ndarray:
    """Seeds x queries: one row per record, in the given query order."""
    return np.array([[r["per_query"][q][metric] for q in queries] for r in records])


def difference(a: list[dict], b: list[dict], queries: list[str]) -> Interval:
    """nDCG@10 of records ``a`` minus records ``b``, paired by query, and by seed when both
    come from the same generations (``stats.seed_pairing``)."""
    paired = seed_pairing([generation(r) for r in a], [generation(r) for r in b]) is not None
    if paired:  # both in seed order: the interval does not depend on the records' order
        a, b = sorted(a, key=generation), sorted(b, key=generation)
    return paired_difference(scores(a, queries), scores(b, queries), seed_paired=paired)


def save(directory: Path, records: list[dict]) -> list[Path]:
    """``results.csv`` and ``scores.csv.gz`` of ``records``; returns them."""
    return [_csv(directory / "results.csv", records), _scores(directory / SCORES, records)]


def _csv(path: Path, records: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(CSV_COLUMNS)
        for r in records:
            out.writerow(
                [
                    *(("" if r[c] is None else r[c]) for c in CSV_COLUMNS[:9]),
                    f"{r['ndcg_at_10']:.6f}",
                    f"{r['recall_at_100']:.6f}",
                    len(r["per_query"]),
                    "" if r.get("generation") is None else r["generation"],
                    "" if r["config"] is None else json.dumps(r["config"], sort_keys=True),
                ]
            )
    return path


def _scores(path: Path, records: list[dict]) -> Path:
    """Every scored query of every result, so that the report can be recomputed from the
    repository alone: result_id, query, nDCG@10, Recall@100 (shortest exact decimals)."""
    with gzip.GzipFile(path, "wb", mtime=0) as raw, io.TextIOWrapper(raw, "utf-8", newline="") as f:
        out = csv.writer(f)
        out.writerow(SCORE_COLUMNS)
        results: dict[int, dict] = {}  # two arms may share a result (the same context)
        for r in records:
            results.setdefault(r["result_id"], r["per_query"])
        for i, per_query in results.items():
            for query, score in sorted(per_query.items()):
                out.writerow([i, query, *(repr(float(score[m])) for m in SCORE_COLUMNS[2:])])
    return path


def load(directory: Path) -> list[dict]:
    """The records of a report directory, per-query scores included, as ``write`` took them."""
    per_query: dict[int, dict] = {}
    with gzip.open(directory / SCORES, "rt", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            per_query.setdefault(int(row["result_id"]), {})[row["query"]] = {
                m: float(row[m]) for m in SCORE_COLUMNS[2:]
            }
    with (directory / "results.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    integer = lambda v: None if v in ("", None) else int(v)  # noqa: E731
    return [
        {
            **{c: row[c] or None for c in ("dataset", "encoder", "arm", "axis", "value")},
            "context": row["context"],
            **{c: integer(row.get(c)) for c in ("seed", "version", "result_id", "generation")},
            "config": json.loads(row["config"]) if row.get("config") else None,
            "ndcg_at_10": float(row["ndcg_at_10"]),
            "recall_at_100": float(row["recall_at_100"]),
            "per_query": per_query[int(row["result_id"])],
        }
        for row in rows
    ]


__all__ = ["CSV_COLUMNS", "SCORES", "difference", "generation", "load", "save", "scores"]
