"""The report's account of an adapted encoder (``[[encoder]] adapted = true``): what its gain
is made of, each part a paired difference between two arms of the same section (same
queries; by seed too where both arms come from the same generation seeds, as the adapted arms
of seed s and that seed's synthetic context do: the note under the table says which).
Context alone, training alone and both, each against no context; the domain part of the
training (in-domain minus other-domain pairs); and the full-access references (pairs written
over ``real:N``)."""

from .stats import Interval


def decomposition(s) -> list[tuple[str, str, str]]:
    """``(what, arm, minus arm)`` rows of one section, those whose arms it has."""
    both = "adapted(synthetic)+synthetic"
    rows = [
        ("context alone", "synthetic", "none"),
        ("training alone", "adapted(synthetic)", "none"),
        ("both", both, "none"),
        ("training, over the context alone", both, "synthetic"),
        ("any fine-tuning (other-domain pairs)", "adapted(other-domain)", "none"),
        ("domain part of the training", "adapted(synthetic)", "adapted(other-domain)"),
        ("domain part, both with the context", both, "adapted(other-domain)+synthetic"),
    ]
    if real := s.first("real"):
        rows += [
            (f"full-access training (queries over {real})", f"adapted({real})", "none"),
            ("synthetic minus full-access training", "adapted(synthetic)", f"adapted({real})"),
            (f"full access, both (its context {real})", f"adapted({real})+{real}", "none"),
            (f"both minus the {real} context alone", both, real),
        ]
    return [row for row in rows if row[1] in s.arms and row[2] in s.arms]


def adapted(s) -> bool:
    return any(rows[0]["axis"] == "adapted" for rows in s.arms.values())


def lines(dataset: str, encoder: str, s) -> list[str]:
    """The section's adaptation table (nothing for an encoder without adapted arms)."""
    from .report import _cell, _pairing, _verdict

    if not adapted(s):
        return []
    out = [
        f"What the adapted encoder's gain is made of ({dataset}, {encoder}): rows named"
        " adapted(X) use the model fine-tuned on X's synthetic (query, document) pairs, the"
        " others the base model; +C: scored with context C. nDCG@10 points, paired by query:",
        "",
        "| part | arm minus arm | difference [95% CI] p | |",
        "| --- | --- | --- | --- |",
    ]
    shown = []
    for what, arm, minus in decomposition(s):
        shown.append(d := s.delta(arm, minus))
        out.append(f"| {what} | {arm} minus {minus} | {_cell(d)} | {_verdict(d)} |")
    out += _pairing(shown)
    if "adapted(synthetic)+synthetic" not in s.arms:
        out += ["", "This encoder does not read a context: training alone is also both."]
    return out + [""]


def deltas(s) -> list[tuple[str, Interval]]:
    """The decomposition as (label, interval) for the plot (none without adapted arms)."""
    if not adapted(s):
        return []
    return [
        (f"{what}: {arm} − {minus}", s.delta(arm, minus)) for what, arm, minus in decomposition(s)
    ]


__all__ = ["adapted", "decomposition", "deltas", "lines"]
