"""The experiment report's plots: nDCG@10 against J' and against k, the contexts' bars with
intervals, and per section (dataset, encoder) a difference plot: the section's differences in
nDCG@10 points, each with its paired 95% interval as error bars and a line at zero. Bars
drawn from 0 make 44.9 and 53.1 look alike; a difference and its interval do not. Each
difference has the sign the report's tables give it (``differences``): the synthetic context
minus each baseline, each ablation minus the reference context, any other arm minus the
reference arm; every row says which minus which. A section with adapted arms also gets its
decomposition (``decomposition``): context alone, training alone, both, the domain part and
the full-access references. The absolute numbers stay in the report's tables. Every figure
is saved through ``save_figure``, which grows it until no title, label or row name is cut."""

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
    save_figure(fig, directory / name)
    plt.close(fig)
    return directory / name


def save_figure(fig, path: Path) -> Path:
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


def write_plots(directory: Path, summaries: dict) -> list[Path]:
    """Every plot of the report: nDCG@10 against J' and against k, the contexts' bars, and the
    difference plots; ``summaries`` are the report's sections (``report.Summary``)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    written = []
    for axis, name, log in (("docs", "ndcg_vs_docs.png", True), ("k", "ndcg_vs_k.png", False)):
        fig, ax = plt.subplots(figsize=(6, 4))
        drawn = False
        for (dataset, encoder), s in summaries.items():
            points = s.series(axis)
            if len(points) < 2:
                continue
            means = [s.mean(arm) for _, arm in points]
            x = [p for p, _ in points]
            y = [100 * m.mean for m in means]
            err = [
                [100 * (m.mean - m.low) for m in means],
                [100 * (m.high - m.mean) for m in means],
            ]
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=f"{dataset} ({encoder})")
            for base, style in (("none", ":"), ("generic", "--")):
                if arm := s.first(base):
                    ax.axhline(
                        100 * s.mean(arm).mean,
                        linestyle=style,
                        linewidth=1,
                        color=ax.lines[-1].get_color(),
                        label=f"{dataset} {arm}",
                    )
            drawn = True
        if drawn:
            if log:
                ax.set_xscale("log", base=2)
                ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
            ax.set_xlabel("J' (synthetic documents)" if axis == "docs" else "k (exemplars)")
            ax.set_ylabel("nDCG@10 (%), 95% CI")
            ax.legend(fontsize=7)
            written.append(save_figure(fig, directory / name))
        plt.close(fig)
    written.append(_bars(plt, directory / "contexts.png", summaries))
    return written + difference_plots(plt, directory, summaries)


def _bars(plt, path: Path, summaries: dict) -> Path:
    """Per dataset: the baselines, then the synthetic arms labelled with strategy and J' (the
    hierarchical-vs-direct pair is compared at the reference J', not at the base's)."""
    kinds = ("none", "generic", "real", "synthetic", "other-domain", "reference", "strategy=direct")
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(kinds)
    for i, kind in enumerate(kinds):
        xs, ys, errs, label = [], [], [[], []], kind
        for g, s in enumerate(summaries.values()):
            arm = s.first(kind)
            if arm is None:
                continue
            if config := s.arms[arm][0]["config"]:
                label = (
                    f"{kind} " if kind == "other-domain" else ""
                ) + f"{config['strategy']} J'={config['docs']}"
            m = s.mean(arm)
            xs.append(g + i * width)
            ys.append(100 * m.mean)
            errs[0].append(100 * (m.mean - m.low))
            errs[1].append(100 * (m.high - m.mean))
        if xs:
            ax.bar(xs, ys, width, yerr=errs, capsize=2, label=label)
    ax.set_xticks([g + 0.4 - width / 2 for g in range(len(summaries))])
    ax.set_xticklabels([f"{d}\n{e}" for d, e in summaries], fontsize=8)
    ax.set_ylabel("nDCG@10 (%), 95% CI")
    ax.legend(fontsize=7)
    save_figure(fig, path)
    plt.close(fig)
    return path
