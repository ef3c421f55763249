"""How the report writes a paired difference: its cell (mean, interval, p, and a mark when it
is paired by seed too), its verdict (higher, lower, within noise) and the note under a table
saying how its intervals are paired. One module, so the report's tables, the adaptation table
and the benchmarks' tables word a difference alike."""

from .stats import Interval

PAIRED, INDEPENDENT = "paired by query and seed", "paired by query, seeds independent"
MARK = "‡"  # beside a seed-paired difference


def verdict(interval: Interval | None) -> str:
    if interval is None:
        return "not run"
    return "within noise" if interval.covers_zero else ("higher" if interval.mean > 0 else "lower")


def cell(interval: Interval | None) -> str:
    if interval is None:
        return "-"
    return interval.format() + (f" {MARK}" if interval.seed_paired else "")


def pairing(intervals) -> list[str]:
    """The note under a table of differences: how its intervals are paired."""
    kinds = {d.seed_paired for d in intervals if d is not None}
    why = {
        True: f"{MARK} {PAIRED} (both arms from the same generation seeds)",
        False: f"{INDEPENDENT} (an arm without generation seeds, or not the same ones)",
    }
    if not kinds:
        return []
    return ["", "Intervals: " + "; the others ".join(why[k] for k in sorted(kinds)[::-1]) + "."]


__all__ = ["INDEPENDENT", "MARK", "PAIRED", "cell", "pairing", "verdict"]
