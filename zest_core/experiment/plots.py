"""Difference plots for the experiment report: per section (dataset, encoder), each arm minus
the reference arm in nDCG@10 points, with its paired 95% interval as error bars and a line at
zero. Bars drawn from 0 make 44.9 and 53.1 look alike; a difference and its interval do not.
A section with adapted arms also gets its decomposition (``decomposition``): context alone,
training alone, both, the domain part and the full-access references. The absolute numbers
stay in the report's tables."""

import re
from pathlib import Path

from .decomposition import deltas


def reference_arm(summary) -> str | None:
    """What the section's arms are compared with: the synthetic context (the base
    generation), else the ablations' reference, else the first arm."""
    for arm in ("synthetic", summary.reference):
        if arm in summary.arms:
            return arm
    return next(iter(summary.arms), None)


def difference_plots(plt, directory: Path, summaries: dict) -> list[Path]:
    """One PNG per section with at least two arms: ``difference_DATASET_ENCODER.png``; and
    ``adaptation_DATASET_ENCODER.png`` for a section with adapted arms."""
    written = []
    for (dataset, encoder), s in summaries.items():
        reference = reference_arm(s)
        arms = [arm for arm in s.arms if arm != reference]
        if reference is None or not arms:
            continue
        pairs = [(arm, s.delta(arm, reference)) for arm in arms]
        written.append(
            _draw(plt, directory, "difference", dataset, encoder, pairs, f"minus {reference}")
        )
        if parts := deltas(s):
            written.append(_draw(plt, directory, "adaptation", dataset, encoder, parts, ""))
    return written


def _draw(plt, directory: Path, kind: str, dataset: str, encoder: str, pairs, what: str) -> Path:
    labels, deltas = [label for label, _ in pairs], [d for _, d in pairs]
    y = list(range(len(labels)))[::-1]
    x = [100 * d.mean for d in deltas]
    err = [[100 * (d.mean - d.low) for d in deltas], [100 * (d.high - d.mean) for d in deltas]]
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.35 * len(labels)))
    colors = ["tab:gray" if d.covers_zero else "tab:blue" for d in deltas]
    for yi, xi, lo, hi, color in zip(y, x, err[0], err[1], colors):
        ax.errorbar([xi], [yi], xerr=[[lo], [hi]], fmt="o", capsize=3, color=color)
    ax.axvline(0, color="black", linewidth=1)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xlabel(f"nDCG@10 points {what} (paired 95% CI; grey: within noise)".replace("  ", " "))
    ax.set_title(f"{dataset}: encoder {encoder}", fontsize=9)
    fig.tight_layout()
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{kind}_{dataset}_{encoder}") + ".png"
    fig.savefig(directory / name, dpi=120)
    plt.close(fig)
    return directory / name
