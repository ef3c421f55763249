"""Near-dedup at scale: zest's vectorised MinHash + LSH against datasketch, in one run.

Synthesises ``--docs`` documents from real BEIR abstracts (SciFact + NFCorpus): distinct
documents are random mixes of real sentences, and ``--planted`` of them are mutated copies of
others (a share of 1-5% of words replaced, deleted or inserted), so every planted pair is
known. Both methods shingle the same words, use the same band/row split and verify their
candidates by exact Jaccard; reported: wall time, candidate and verified pairs, and recall of
the planted pairs whose true Jaccard is at or above the threshold.

    python benchmarks/near_dedup.py                       # 100k documents, 10k planted
    python benchmarks/near_dedup.py --docs 20000 --planted 2000
"""

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
from datasketch import MinHash, MinHashLSH

from zest_core.text import words as tokens
from zest_dedup.minhash import jaccard, keep_first, shingle, similar_pairs

BEIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "beir"


def sentences() -> list[str]:
    pool = []
    for name in ("scifact", "nfcorpus"):
        with (BEIR / name / "corpus.jsonl").open() as f:
            for line in f:
                pool.extend(
                    s.strip() + "."
                    for s in json.loads(line)["text"].split(". ")
                    if len(s.split()) >= 5
                )
    return pool


def mutate(text: str, rate: float, rng: random.Random, vocab: list[str]) -> str:
    words = text.split()
    for _ in range(max(1, round(rate * len(words)))):
        i, op = rng.randrange(len(words)), rng.random()
        if op < 0.4:
            words[i] = rng.choice(vocab)
        elif op < 0.7 and len(words) > 1:
            del words[i]
        else:
            words.insert(i, rng.choice(vocab))
    return " ".join(words)


def corpus(n_docs: int, n_planted: int, seed: int) -> tuple[list[str], list[tuple[int, int]]]:
    """Documents in shuffled order, and the planted pairs as (original, copy) positions."""
    rng = random.Random(seed)
    pool = sentences()
    vocab = sorted({w for s in rng.sample(pool, 5000) for w in s.split()})
    base = [" ".join(rng.sample(pool, rng.randint(4, 10))) for _ in range(n_docs - n_planted)]
    sources = [rng.randrange(len(base)) for _ in range(n_planted)]
    docs = base + [mutate(base[s], rng.uniform(0.01, 0.05), rng, vocab) for s in sources]
    order = list(range(n_docs))
    rng.shuffle(order)
    position = {old: new for new, old in enumerate(order)}
    shuffled = [docs[old] for old in order]
    pairs = [tuple(sorted((position[s], position[len(base) + k]))) for k, s in enumerate(sources)]
    return shuffled, pairs


def with_datasketch(texts, threshold, num_perm, shingle_size, recall_weight, seed):
    """The same pipeline with datasketch: MinHash.bulk, MinHashLSH, exact Jaccard on sets."""
    sets = []
    for text in texts:
        words = tokens(text)
        words += [""] * (shingle_size - len(words))
        sets.append(
            {
                " ".join(words[i : i + shingle_size]).encode()
                for i in range(len(words) - shingle_size + 1)
            }
        )
    hashes = MinHash.bulk(sets, num_perm=num_perm, seed=seed)
    lsh = MinHashLSH(
        threshold=threshold, num_perm=num_perm, weights=(1 - recall_weight, recall_weight)
    )
    with lsh.insertion_session() as session:
        for i, m in enumerate(hashes):
            session.insert(i, m)
    found = set()
    for i, m in enumerate(hashes):
        found.update((min(i, j), max(i, j)) for j in lsh.query(m) if j != i)
    pairs = np.array(sorted(found), dtype=np.int64).reshape(-1, 2)
    sims = np.array([len(sets[i] & sets[j]) / len(sets[i] | sets[j]) for i, j in pairs])
    return pairs, sims, (lsh.b, lsh.r)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--planted", type=int, default=10_000)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--num-perm", type=int, default=128)
    parser.add_argument("--shingle", type=int, default=3)
    parser.add_argument("--recall-weight", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-datasketch", action="store_true")
    args = parser.parse_args()

    texts, planted = corpus(args.docs, args.planted, args.seed)
    truth = jaccard(shingle(texts, args.shingle), np.array(planted))
    should = {p for p, s in zip(planted, truth) if s >= args.threshold}
    print(
        f"{len(texts)} documents, {len(planted)} planted copies, {len(should)} of them with"
        f" true Jaccard >= {args.threshold} (median {np.median(truth):.2f})"
    )

    settings = (args.threshold, args.num_perm, args.shingle, args.recall_weight, 1)
    results = {}
    clock = time.perf_counter(), time.process_time()
    pairs, sims = similar_pairs(texts, *settings)
    drops = keep_first(pairs, sims, args.threshold)
    results["zest (numpy)"] = (
        time.perf_counter() - clock[0],
        time.process_time() - clock[1],
        pairs,
        sims,
        len(drops),
    )
    if not args.skip_datasketch:
        clock = time.perf_counter(), time.process_time()
        pairs, sims, bands = with_datasketch(texts, *settings)
        drops = keep_first(pairs, sims, args.threshold)
        results[f"datasketch {bands[0]}x{bands[1]}"] = (
            time.perf_counter() - clock[0],
            time.process_time() - clock[1],
            pairs,
            sims,
            len(drops),
        )

    # CPU seconds count this process only: on a shared machine they are the fairer measure.
    print(
        f"{'method':<22}{'wall s':>8}{'CPU s':>8}{'candidates':>12}{'verified':>10}"
        f"{'dropped':>9}{'recall':>8}{'other pairs':>13}"
    )
    for name, (wall, cpu, pairs, sims, dropped) in results.items():
        verified = {tuple(p) for p in pairs[sims >= args.threshold].tolist()}
        recall = len(should & verified) / len(should)
        print(
            f"{name:<22}{wall:>8.1f}{cpu:>8.1f}{len(pairs):>12}{len(verified):>10}"
            f"{dropped:>9}{recall:>8.3f}{len(verified - should):>13}"
        )
    if len(results) == 2:
        (ours, ours_cpu, *_), (theirs, theirs_cpu, *_) = results.values()
        print(
            f"datasketch / zest: {theirs / ours:.1f}x wall time,"
            f" {theirs_cpu / ours_cpu:.1f}x CPU time"
        )
    print("reproduce: python benchmarks/near_dedup.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
