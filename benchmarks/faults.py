"""More fault-injection trials than CI runs: tests/test_faults.py with N trials per command.

Every trial is a real zest process on a real SQLite file, killed with SIGKILL before a
seeded random SQL statement (or after a random time), then checked against the invariants
listed in tests/test_faults.py and docs/reliability.md. Prints, per command, how many trials
were killed and how many finished before their kill point; exits non-zero if any invariant
failed.

    python benchmarks/faults.py --trials 30            # about 15 minutes on 2 cores
    python benchmarks/faults.py --trials 10 --seed 7 -k filter
"""

import argparse
import collections
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30, help="trials per command")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill points")
    parser.add_argument("-k", default="", help="pytest -k expression to pick commands")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "kills.jsonl"
        env = {
            **os.environ,
            "ZEST_FAULT_TRIALS": str(args.trials),
            "ZEST_FAULT_SEED": str(args.seed),
            "ZEST_FAULT_REPORT": str(report),
        }
        started = time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                str(ROOT / "tests" / "test_faults.py"),
                *(["-k", args.k] if args.k else []),
            ],
            cwd=ROOT,
            env=env,
        )
        seconds = time.monotonic() - started
        kills = (
            [json.loads(line) for line in report.read_text().splitlines()]
            if report.exists()
            else []
        )
    counts = collections.defaultdict(collections.Counter)
    for kill in kills:
        counts[kill["command"]]["killed" if kill["killed"] else "finished first"] += 1
    print(
        f"\n{len(kills)} processes started for a kill, seed {args.seed},"
        f" {args.trials} trials per command, {seconds:.0f} s wall"
        f" ({platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')})"
    )
    for command, c in sorted(counts.items()):
        print(
            f"  {command:<16} killed {c['killed']:>4}   finished before the kill"
            f" {c['finished first']:>4}"
        )
    print("invariants: " + ("all held" if done.returncode == 0 else "VIOLATED (see above)"))
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
