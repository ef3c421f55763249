"""Useful documents per minute of every generated version in a store, grouped by arm.

For each complete ``run`` version: its documents, completion tokens, wall seconds (as the
store recorded them: generation of anchors and documents, the process's own time), and the
documents the default filters (``exact-dedup``, ``near-dedup``, ``quality``, default options)
keep, applied in-process to the stored documents exactly as ``zest filter`` would. Versions
are grouped by dataset (the exemplars' corpus name) and by the generator options that differ
between them, so the arms of one ``zest experiment`` come out side by side; the ratio column
is each arm's kept documents per minute over the first arm's, per dataset.

    python benchmarks/kept_rate.py --db corpora/zest.db
"""

import argparse
import datetime
import json
import os
from collections import defaultdict

from zest_core import Store, last_sentence_end
from zest_core.corpus.filtering import build_filters, run_filters

DEFAULT_FILTERS = ("exact-dedup", "near-dedup", "quality")


def filtered(store: Store, version_id: int, documents: list[dict]) -> tuple[int, dict]:
    """Documents the default filters keep, and how many each reason dropped."""
    filters = build_filters((name, {}) for name in DEFAULT_FILTERS)
    drops = run_filters(filters, documents, store.exemplars(version_id))
    reasons = defaultdict(int)
    for _, drop in drops:
        reasons[drop.reason] += 1
    return len(documents) - len(drops), dict(reasons)


def cut_back(doc: dict) -> dict:
    """The document cut back to its last full sentence when it does not end with one (as
    if it had stopped there): what a cut-back rule would store. Not something zest does;
    measured here as an opportunity."""
    cut = last_sentence_end(doc["text"])
    if cut == doc["text"]:
        return doc
    return {**doc, "text": cut, "finish_reason": "stop"}


def arms(store: Store) -> list[dict]:
    rows = []
    for v in store.versions():
        if v["kind"] != "run" or v["status"] != "complete":
            continue
        version = store.version(v["id"])
        # what the run resolved to (defaults filled in), else what it asked for
        options = version["resolved"].get("options") or version["config"].get("options") or {}
        finishes = defaultdict(int)
        for doc in store.documents(v["id"]):
            finishes[doc["finish_reason"] or "?"] += 1
        documents = store.documents(v["id"])
        n_kept, dropped = filtered(store, v["id"], documents)
        n_cut, _ = filtered(store, v["id"], [cut_back(doc) for doc in documents])
        rows.append(
            {
                "id": v["id"],
                "corpus": v["corpus"],
                "seed": v["seed"],
                "options": options,
                "docs": v["documents"],
                "tokens": store.totals(v["id"])["completion_tokens"],
                "wall": v["wall_seconds"] or 0.0,
                "kept": n_kept,
                "finishes": dict(finishes),
                "dropped": dropped,
                "kept_if_cut": n_cut,
            }
        )
    return rows


def label(options: dict, varying: list[str]) -> str:
    return ", ".join(f"{k}={options.get(k)}" for k in varying) or "all"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=os.environ.get("ZEST_DB", "corpora/zest.db"))
    args = parser.parse_args()
    store = Store(args.db)
    rows = arms(store)
    keys = sorted({k for r in rows for k in r["options"]})
    varying = [k for k in keys if len({json.dumps(r["options"].get(k)) for r in rows}) > 1]
    print(f"python benchmarks/kept_rate.py --db {args.db}")
    print(f"{datetime.datetime.now().isoformat(timespec='minutes')}, {os.cpu_count()} cores")
    print(
        "\n| version | dataset | seed | arm | docs | tokens/doc | wall s | kept |"
        " finish reasons | dropped by | kept if cut back to a sentence end |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        finishes = " ".join(f"{k} {n}" for k, n in sorted(r["finishes"].items()))
        dropped = " ".join(f"{k} {n}" for k, n in sorted(r["dropped"].items()))
        print(
            f"| {r['id']} | {r['corpus']} | {r['seed']} | {label(r['options'], varying)} |"
            f" {r['docs']} | {r['tokens'] / max(r['docs'], 1):.0f} | {r['wall']:.0f} |"
            f" {r['kept']} | {finishes} | {dropped} | {r['kept_if_cut']} |"
        )
    groups = defaultdict(list)
    for r in rows:
        groups[(r["corpus"], label(r["options"], varying))].append(r)
    print("\n| dataset | arm | versions | docs/min | kept | kept docs/min | x first arm |")
    print("|---|---|---|---|---|---|---|")
    first = {}
    for (corpus, arm), members in groups.items():
        minutes = sum(r["wall"] for r in members) / 60
        rate = sum(r["kept"] for r in members) / minutes if minutes else 0.0
        first.setdefault(corpus, rate)
        print(
            f"| {corpus} | {arm} | {len(members)} |"
            f" {sum(r['docs'] for r in members) / minutes:.1f} |"
            f" {sum(r['kept'] for r in members)} / {sum(r['docs'] for r in members)} |"
            f" {rate:.1f} | {rate / first[corpus]:.2f} |"
        )


if __name__ == "__main__":
    main()
