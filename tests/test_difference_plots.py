"""The report's difference plots: each arm minus the reference, with paired intervals."""

import random

import matplotlib

from zest_core.experiment import report
from zest_core.experiment.plots import difference_plots, reference_arm

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def record(arm, seed, shift, n=40):
    rng = random.Random(f"{arm}{seed}")
    per_query = {
        f"q{i}": {
            "ndcg_at_10": min(1.0, max(0.0, 0.4 + shift + 0.2 * rng.random())),
            "recall_at_100": 0.5,
        }
        for i in range(n)
    }
    return {
        "dataset": "toy",
        "encoder": "dense",
        "arm": arm,
        "axis": None,
        "value": None,
        "seed": seed,
        "context": arm,
        "version": None,
        "result_id": 1,
        "config": {},
        "per_query": per_query,
        "ndcg_at_10": 0.5,
        "recall_at_100": 0.5,
        "queries": n,
    }


def test_one_difference_plot_per_section_beside_the_absolute_table(tmp_path):
    records = [record("none", None, 0.0)]
    records += [record("synthetic", seed, 0.05) for seed in (0, 1)]
    records += [record("adapted", seed, 0.15) for seed in (0, 1)]
    summary = report.Summary(records)
    assert reference_arm(summary) == "synthetic"
    written = difference_plots(plt, tmp_path, {("toy", "dense"): summary})
    assert [p.name for p in written] == ["difference_toy_dense.png"]
    assert written[0].read_bytes().startswith(b"\x89PNG")
    assert summary.delta("adapted", "synthetic").low > 0  # the plotted interval


LONG = (
    "hybrid(/home/someone/models/a-local-sentence-transformers-model-folder)"
    "[max_seq_length=128,weight=0.5] adapted[batch_size=4,hard_negatives=2]"
)


def test_every_plot_of_a_report_shows_each_text_whole_and_the_tables_sign(tmp_path, monkeypatch):
    """Titles, axis labels, row labels and legends all lie inside the saved figure (a long
    encoder label and long decomposition rows included); the difference plot reads
    ``synthetic − none`` as the report's table does, not the other way round."""
    from types import SimpleNamespace

    import matplotlib.figure

    arms = {"none": 0.0, "generic": 0.01, "real:512": 0.06, "synthetic": 0.04}
    arms |= {"other-domain": 0.02, "adapted(synthetic)": 0.05, "adapted(other-domain)": 0.03}
    arms |= {"adapted(synthetic)+synthetic": 0.08, "adapted(other-domain)+synthetic": 0.05}
    arms |= {"adapted(real:512)": 0.07, "adapted(real:512)+real:512": 0.09}
    records = []
    for dataset in ("scifact-slice", "nfcorpus-slice"):
        for arm, shift in arms.items():
            seeds = (None,) if arm in ("none", "generic", "real:512") else (0, 1)
            for seed in seeds:
                r = record(arm, seed, shift)
                r.update(dataset=dataset, encoder=LONG, config=None if seed is None else {})
                r["axis"] = "adapted" if arm.startswith("adapted") else None
                records.append(r)
    checked, drawn = [], []
    save = matplotlib.figure.Figure.savefig

    def inside(fig, path, *args, **kwargs):
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        width, height = fig.bbox.width, fig.bbox.height
        for text in drawn_texts(fig):
            if not text.get_visible() or not text.get_text().strip():
                continue
            box = text.get_window_extent(renderer)
            assert box.x0 >= -1 and box.y0 >= -1, (path, text.get_text())
            assert box.x1 <= width + 1 and box.y1 <= height + 1, (path, text.get_text())
            drawn.append(text.get_text())
        checked.append(path)
        return save(fig, path, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", inside)
    grid = SimpleNamespace(name="toy", path="toy.toml", part="", seeds=[0, 1], base={}, notes="")
    grid.encoders = []
    info = {"seconds": 1, "generated": 0, "scored": 0, "reused": 0, "notes": []}
    written = report.write(tmp_path, grid, records, info)
    pngs = [p for p in written if p.suffix == ".png"]
    assert len(checked) == len(pngs) >= 5  # contexts, 2 difference and 2 adaptation plots
    assert "synthetic − none" in drawn and "none − synthetic" not in drawn
    text = (tmp_path / "report.md").read_text()
    assert "| none | " in text.split("synthetic minus", 1)[1]  # the table: synthetic minus none


def drawn_texts(fig) -> list:
    """Every text a figure draws: its own, and per axes the titles, axis labels, the tick
    labels in view (matplotlib keeps labels of ticks out of view, undrawn) and the legend."""
    texts = list(fig.texts)
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]
        for axis in (ax.xaxis, ax.yaxis):  # the ticks it draws (private: matplotlib's own pick)
            texts += [tick.label1 for tick in axis._update_ticks()]
        if legend := ax.get_legend():
            texts += [legend.get_title(), *legend.get_texts()]
    return texts
