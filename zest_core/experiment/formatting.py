"""How the report writes a paired difference: its cell (mean, interval, p) and its verdict
(higher, lower, within noise). One module, so the report's tables, the adaptation table and
the benchmarks' tables word a difference alike."""

from .stats import Interval


def verdict(interval: Interval | None) -> str:
    if interval is None:
        return "not run"
    return "within noise" if interval.covers_zero else ("higher" if interval.mean > 0 else "lower")


def cell(interval: Interval | None) -> str:
    return "-" if interval is None else interval.format()


__all__ = ["cell", "verdict"]
