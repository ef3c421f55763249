"""Difference plots for the experiment report: per section (dataset, encoder), the section's
differences in nDCG@10 points, each with its paired 95% interval as error bars and a line at
zero. Bars drawn from 0 make 44.9 and 53.1 look alike; a difference and its interval do not.
Each difference has the sign the report's tables give it (``differences``): the synthetic
context minus each baseline, each ablation minus the reference context, any other arm minus
the reference arm; every row says which minus which. A section with adapted arms also gets
its decomposition (``decomposition``): context alone, training alone, both, the domain part
and the full-access references. The absolute numbers stay in the report's tables. Every
figure is saved through ``save``, which grows it until no title, label or row name is cut."""

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


BASELINES = ("none", "generic", "other-domain", "real")  # the report's "synthetic minus" rows


def differences(s) -> list[tuple[str, str]]:
    """``(arm, minus arm)`` of every difference the section's plot shows, with the report's
    signs: ``synthetic`` minus each baseline (its first table), each ablation minus the
    ablations' reference (its second), every other arm minus the reference arm."""
    reference = reference_arm(s)
    pairs, shown = [], {reference}
    if "synthetic" in s.arms:
        for other in BASELINES:
            if (arm := s.first(other)) and arm not in shown:
                pairs.append(("synthetic", arm))
                shown.add(arm)
    for arm, rows in s.arms.items():
        ablation = rows[0]["axis"] not in (None, "docs", "*", "adapted")
        if arm not in shown and ablation and s.reference in s.arms and arm != s.reference:
            pairs.append((arm, s.reference))
            shown.add(arm)
    pairs += [(arm, reference) for arm in s.arms if arm not in shown]
    return pairs


def difference_plots(plt, directory: Path, summaries: dict) -> list[Path]:
    """One PNG per section with at least two arms: ``difference_DATASET_ENCODER.png``; and
    ``adaptation_DATASET_ENCODER.png`` for a section with adapted arms."""
    written = []
    for (dataset, encoder), s in summaries.items():
        if reference_arm(s) is None:
            continue
        if not (pairs := [(f"{a} − {b}", s.delta(a, b)) for a, b in differences(s)]):
            continue
        written.append(_draw(plt, directory, "difference", dataset, encoder, pairs))
        if parts := deltas(s):
            written.append(_draw(plt, directory, "adaptation", dataset, encoder, parts))
    return written


def _draw(plt, directory: Path, kind: str, dataset: str, encoder: str, pairs) -> Path:
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
    ax.set_xlabel("nDCG@10 points (paired 95% CI; grey: within noise)")
    ax.set_title(f"{dataset}: encoder {encoder}", fontsize=9)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{kind}_{dataset}_{encoder}") + ".png"
    save(fig, directory / name)
    plt.close(fig)
    return directory / name


def save(fig, path: Path) -> Path:
    """Lay the figure out, then grow it by whatever its texts (title, axis labels, tick and
    row labels, legend) stick out of it, keeping the axes' size, and save it: nothing cut."""
    fig.tight_layout()
    fig.canvas.draw()
    box = fig.get_tightbbox(fig.canvas.get_renderer())  # inches, all artists
    width, height = fig.get_size_inches()
    left, bottom = max(0.0, -box.x0), max(0.0, -box.y0)
    right, top = max(0.0, box.x1 - width), max(0.0, box.y1 - height)
    if left or bottom or right or top:
        pad = 0.05
        new_w, new_h = width + left + right + 2 * pad, height + bottom + top + 2 * pad
        positions = [ax.get_position() for ax in fig.axes]
        fig.set_size_inches(new_w, new_h)
        for ax, pos in zip(fig.axes, positions):
            ax.set_position(
                [
                    (pos.x0 * width + left + pad) / new_w,
                    (pos.y0 * height + bottom + pad) / new_h,
                    pos.width * width / new_w,
                    pos.height * height / new_h,
                ]
            )
    fig.savefig(path, dpi=120)
    return path
