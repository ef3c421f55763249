"""An experiment's report directory: report.md, results.csv, scores.csv.gz and PNG plots.

Every mean carries a bootstrap 95% interval over queries and generation seeds, and every
difference a paired one (same queries on both sides) with a sign-flip p-value; a difference
whose interval covers zero is called "within noise". Two arms built from the same generations
(per seed, the same base version: an ablation and its reference, the model adapted on seed
s's corpus and that corpus, one context under two encoders) are paired by seed too; a note
under every table says which intervals are which (``stats`` says why it matters).
"""

import datetime
import os
import platform
import re
from pathlib import Path

import numpy as np

from ..adaptation.arms import reads_context
from ..errors import ZestError
from ..plugin.manager import get_encoder
from . import decomposition as adapt_report
from .formatting import INDEPENDENT, MARK, PAIRED  # noqa: F401 (the report's wording)
from .formatting import cell as _cell
from .formatting import pairing as _pairing
from .formatting import verdict as _verdict
from .plots import write_plots
from .report_records import SCORES, difference, load, save, scores
from .stats import Interval, mean_interval

METHOD = (
    "- nDCG@10 and Recall@100 in points (%); intervals are 95% bootstrap intervals over queries"
    " and seeds (10,000 resamples, fixed seed); a difference's queries are drawn once for both"
    " arms, and its seeds too when both arms come from the same generation seeds (the note"
    " under each table says which); p: paired sign-flip randomisation test on the per-query"
    " differences averaged over seeds; *within noise* when the interval covers zero."
)
# As quoted in issue #9 from the ZEST paper (arXiv 2506.23662): nDCG@10 differences.
PAPER = {
    "real": "within 0.5% of full access (real corpus as context)",
    "none": "about +2 points over the context-agnostic encoder",
    "direct": "about +0.3 points, hierarchical over direct synthesis",
    "k": "plateau at k = 5 (k = 10 adds about nothing)",
    "other-domain": "other-domain exemplars about equal to context-agnostic",
    "generator": "GPT-4o vs Llama-3.3-70B generators differ by about 1.1 points",
}


class Summary:
    """Score matrices (seeds x queries, queries aligned) of one dataset and encoder."""

    def __init__(self, records: list[dict]):
        self.records = records
        self.queries = sorted(set.intersection(*(set(r["per_query"]) for r in records)))
        self.arms: dict[str, list[dict]] = {}
        for r in records:
            self.arms.setdefault(r["arm"], []).append(r)

    def matrix(self, arm: str, metric: str = "ndcg_at_10") -> np.ndarray:
        return scores(self.arms[arm], self.queries, metric)

    def mean(self, arm: str) -> Interval:
        return mean_interval(self.matrix(arm))

    def delta(self, a: str, b: str) -> Interval | None:
        if a not in self.arms or b not in self.arms:
            return None
        return difference(self.arms[a], self.arms[b], self.queries)

    def first(self, prefix: str) -> str | None:
        return next(
            (arm for arm in self.arms if arm == prefix or arm.startswith(prefix + ":")), None
        )

    @property
    def reference(self) -> str:
        """The arm the non-J' ablations vary around."""
        return "reference" if "reference" in self.arms else "synthetic"

    def series(self, axis: str) -> list[tuple[float, str]]:
        """(value, arm) along a numeric ablation axis, its reference arm included."""
        points = {}
        for arm, rows in self.arms.items():
            if rows[0]["axis"] == axis and isinstance(rows[0]["config"][axis], (int, float)):
                points[float(rows[0]["config"][axis])] = arm
        center = "synthetic" if axis == "docs" else self.reference
        if points and center in self.arms:
            points.setdefault(float(self.arms[center][0]["config"][axis]), center)
        return sorted(points.items())


def write(directory: Path, grid, records: list[dict], info: dict) -> list[Path]:
    """Write the report directory; returns the files written."""
    return _write(directory, _header(grid, info), records)


def recompute(directory: Path) -> list[Path]:
    """Write a report directory again from its own ``results.csv`` and ``scores.csv.gz`` (no
    store, nothing scored): this version's statistics over the same per-query scores, under
    the header of the report it replaces; returns the files written."""
    missing = [n for n in ("report.md", "results.csv", SCORES) if not (directory / n).is_file()]
    if missing:
        raise ZestError(
            f"{directory} has no {', '.join(missing)}: only a report written with its per-query"
            " scores can be recomputed (run its zest experiment again, with its database)"
        )
    header = []
    for line in (directory / "report.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("## ") and line not in ("## Notes", "## Scoring notes"):
            break
        if line.startswith(METHOD[:30]):
            now = datetime.datetime.now(datetime.UTC)
            line = (
                f"{METHOD}\n- recomputed {now:%Y-%m-%d %H:%M} UTC from results.csv and"
                f" {SCORES}: `zest results report {directory}`"
            )
        if not line.startswith("- recomputed "):
            header.append(line)
    return _write(directory, header, load(directory))


def _write(directory: Path, header: list[str], records: list[dict]) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        groups.setdefault((r["dataset"], r["encoder"]), []).append(r)
    summaries = {key: Summary(rows) for key, rows in groups.items()}
    data = save(directory, records)
    plots = write_plots(directory, summaries)
    lines = list(header)
    for (dataset, encoder), summary in summaries.items():
        section = _section if _reads_context(encoder) else _contextless_section
        lines += section(dataset, encoder, summary) + adapt_report.lines(dataset, encoder, summary)
    for name in dict.fromkeys(d for d, _ in summaries):
        lines += _across_encoders(name, {e: s for (d, e), s in summaries.items() if d == name})
    lines += ["## Plots", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
    (directory / "report.md").write_text("\n".join(lines), encoding="utf-8")
    return [directory / "report.md", *data, *plots]


def _header(grid, info: dict) -> list[str]:
    machine = (
        f"{platform.node() or 'this machine'}: {os.cpu_count()} CPU cores, "
        f"{platform.machine()}, Python {platform.python_version()}"
    )
    lines = [
        f"# Experiment `{grid.name}`",
        "",
        f"- command: `zest experiment {grid.path}{' ' + grid.part if grid.part else ''}`"
        + (" (**part of the grid**: its other datasets or contexts did not run)" * bool(grid.part)),
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; machine: {machine}",
        f"- wall time of this invocation: {info['seconds']:.0f} s; documents generated: "
        f"{info['generated']}; results scored: {info['scored']}, reused from the store: "
        f"{info['reused']}",
        f"- generation seeds: {', '.join(map(str, grid.seeds))}; base generation: "
        + ", ".join(f"{k}={v}" for k, v in grid.base.items() if v not in (None, {})),
        METHOD,
        "",
    ]
    if grid.notes:
        lines += ["## Notes", "", grid.notes.strip(), ""]
    if info["notes"]:
        lines += ["## Scoring notes", "", *(f"- {n}" for n in sorted(set(info["notes"]))), ""]
    return lines


def _section(dataset: str, encoder: str, s: Summary) -> list[str]:
    lines = [
        f"## {dataset} — encoder {encoder} ({len(s.queries)} queries)",
        "",
        "| context | seeds | nDCG@10 [95% CI] | Recall@100 |",
        "| --- | --- | --- | --- |",
    ]
    lines += [_arm_row(s, arm) for arm in s.arms]
    lines += [
        "",
        "Synthetic context (the base generation) against each baseline, nDCG@10 "
        "points, paired by query:",
        "",
        "| synthetic minus | difference [95% CI] p | |",
        "| --- | --- | --- |",
    ]
    shown = []
    for other in ("none", "generic", "other-domain", "real"):
        arm = s.first(other)
        if arm and "synthetic" in s.arms:
            shown.append(d := s.delta("synthetic", arm))
            lines.append(f"| {arm} | {_cell(d)} | {_verdict(d)} |")
    lines += _pairing(shown)
    ablations = [
        a for a, rows in s.arms.items() if rows[0]["axis"] not in (None, "docs", "*", "adapted")
    ]
    if ablations and s.reference in s.arms:
        docs = s.arms[s.reference][0]["config"]["docs"]
        lines += [
            "",
            f"Each ablation against the {s.reference} context (J' = {docs}), nDCG@10 points, "
            "paired by query:",
            "",
            f"| arm minus {s.reference} | difference [95% CI] p | |",
            "| --- | --- | --- |",
        ]
        shown = [s.delta(arm, s.reference) for arm in ablations]
        lines += [f"| {arm} | {_cell(d)} | {_verdict(d)} |" for arm, d in zip(ablations, shown)]
        lines += _pairing(shown)
    lines += [
        "",
        "The paper's reported differences beside ours:",
        "",
        "| claim | paper | ours [95% CI] | |",
        "| --- | --- | --- | --- |",
    ]
    rows, shown = _claims(s)
    return lines + rows + _pairing(shown) + [""]


def _reads_context(label: str) -> bool:
    """Whether the encoder a section is labelled with (``EncoderSpec.label``: its name first)
    reads a context; an encoder not installed here is taken to."""
    name = re.match(r"[^(\[ ]+", label).group(0)
    try:
        get_encoder(name)
    except ZestError:
        return True
    return reads_context(name)


def _contextless_section(dataset: str, encoder: str, s: Summary) -> list[str]:
    """An encoder that reads no context scores every context as it scores ``none``: its
    section keeps ``none`` and the arms that change the model, and no context rows, no
    context differences and no paper claims (all would be zero; results.csv has them)."""
    kept = [arm for arm, rows in s.arms.items() if arm == "none" or rows[0]["axis"] == "adapted"]
    lines = [
        f"## {dataset} — encoder {encoder} ({len(s.queries)} queries)",
        "",
        f"Encoder {encoder} reads no context: every context scores as none does, so its"
        " context rows, differences and the paper's claims are left out (results.csv has"
        " them).",
        "",
        "| arm | seeds | nDCG@10 [95% CI] | Recall@100 |",
        "| --- | --- | --- | --- |",
    ]
    return lines + [_arm_row(s, arm) for arm in kept] + [""]


def _arm_row(s: Summary, arm: str) -> str:
    """An arm's row of a section's table: seeds, nDCG@10 with its interval, Recall@100."""
    rows = s.arms[arm]
    recall = 100 * s.matrix(arm, "recall_at_100").mean()
    seeds = len(rows) if rows[0]["seed"] is not None else "-"
    return f"| {arm} | {seeds} | {s.mean(arm).format()} | {recall:.2f} |"


def _across_encoders(dataset: str, by_encoder: dict[str, Summary]) -> list[str]:
    """With several encoders: every (context, encoder) minus the first encoder's base
    context of the same J' (``synthetic``, and ``reference`` when the ablations have one),
    paired by query, so each encoder option, each ablation and their combination read
    against one default."""
    if len(by_encoder) < 2:
        return []
    (first, base), others = next(iter(by_encoder.items())), list(by_encoder)
    queries = sorted(set.intersection(*(set(s.queries) for s in by_encoder.values())))

    lines = []
    for center in dict.fromkeys(("synthetic", base.reference)):
        if center not in base.arms:
            continue
        docs = base.arms[center][0]["config"]["docs"]
        rows = [  # the baselines sit with the base J'; each arm with its own J'
            arm
            for arm, records in base.arms.items()
            if (records[0]["config"] or {}).get("docs") == docs
            or (records[0]["config"] is None and center == "synthetic")
        ]
        lines += [
            f"## {dataset} — encoders and contexts against {center} under {first}"
            f" (J' = {docs}; nDCG@10 points, paired by query)",
            "",
            "| context | " + " | ".join(others) + " |",
            "| --- |" + " --- |" * len(others),
        ]
        shown = []
        for arm in rows:
            cells = []
            for encoder in others:
                s = by_encoder[encoder]
                if arm not in s.arms or (encoder == first and arm == center):
                    cells.append(
                        f"{100 * scores(s.arms[arm], queries).mean():.2f} (base)"
                        if arm in s.arms
                        else "-"
                    )
                    continue
                shown.append(d := difference(s.arms[arm], base.arms[center], queries))
                cells.append(f"{_cell(d)} {_verdict(d)}")
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
        lines += _pairing(shown) + [""]
    return lines


def _claims(s: Summary) -> tuple[list[str], list[Interval]]:
    """The table's rows and the differences they show."""
    rows, shown = [], []

    def add(claim: str, paper: str, d: Interval, note: str = "") -> Interval:
        shown.append(d)
        rows.append(f"| {claim} | {paper} | {_cell(d)}{note} | {_verdict(d)} |")
        return d

    real, none, generic = s.first("real"), s.first("none"), s.first("generic")
    if real and "synthetic" in s.arms:
        d = s.delta("synthetic", real)
        relative = 100 * d.mean / max(s.mean(real).mean, 1e-9)
        add(f"synthetic vs full access ({real})", PAPER["real"], d, f" ({relative:+.1f}% relative)")
    for arm in (none, generic):
        if arm and "synthetic" in s.arms:
            add(f"synthetic vs context-agnostic ({arm})", PAPER["none"], s.delta("synthetic", arm))
    if "strategy=direct" in s.arms and s.reference in s.arms:
        strategy = s.arms[s.reference][0]["config"]["strategy"]
        add(
            f"{s.reference} ({strategy}) minus strategy=direct",
            PAPER["direct"],
            s.delta(s.reference, "strategy=direct"),
        )
    k_points = dict(s.series("k"))
    if 5.0 in k_points and 10.0 in k_points:
        add("k=10 minus k=5", PAPER["k"], s.delta(k_points[10.0], k_points[5.0]))
    if 1.0 in k_points and 5.0 in k_points:
        add("k=5 minus k=1", "(gain up to the plateau)", s.delta(k_points[5.0], k_points[1.0]))
    for arm in (generic, none):
        if arm and "other-domain" in s.arms:
            add(f"other-domain minus {arm}", PAPER["other-domain"], s.delta("other-domain", arm))
    for arm in s.arms:
        if arm.startswith("generator=") and not arm.endswith("(reference)"):
            add(f"{arm} minus the base generator", PAPER["generator"], s.delta(arm, "synthetic"))
    return rows or ["| (no arm of this grid tests a claim) | | | |"], shown
