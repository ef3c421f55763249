"""``zest experiment``: the paper's ablations as one declared grid, run end to end.

A TOML file names datasets, contexts, a base generation config, one-axis-at-a-time
ablations around it, generation seeds and encoders (see docs/experiments.md). The grid is
planned completely (and every value checked) before any work; then each synthetic corpus is
found in the store by its config and exemplars, resumed when unfinished, or generated; a
smaller J' of the same config is a balanced subset of the larger version (kind ``subset``);
each (dataset, encoder, context) is scored once and its stored result reused afterwards. So a
finished experiment re-runs in seconds and a killed one continues where it stopped.
"""

from collections.abc import Callable

from ..corpus.store import Store
from .arms import kinds
from .grid import Grid
from .planning import obtain, plan, to_generate


def run(grid: Grid, store: Store, progress: "Progress", note: Callable[[str], None]) -> list[dict]:
    """Obtain every synthetic context, then score every (dataset, encoder) under each arm
    kind (``arms.kinds``); returns one record per score with its per-query values."""
    for spec in grid.baselines:
        if spec.isdigit():
            store.require_complete(spec)  # refused before any work, not after hours of it
    jobs = plan(grid, store)
    arm_kinds = kinds()
    n_evals = len(grid.datasets) * sum(
        kind.count(grid, encoder) for kind in arm_kinds for encoder in grid.encoders
    )
    progress.start(to_generate(store, jobs), n_evals)
    for job in jobs:
        progress.step(f"{job.dataset.name}: {job.arm.label}, seed {job.seed}")
        obtain(store, job, progress.document, progress.step)
    records = []
    for dataset in grid.datasets:
        for encoder in grid.encoders:
            for kind in arm_kinds:
                records += kind.score(store, grid, dataset, encoder, jobs, progress, note)
    return records


class Progress:
    """What ``run`` reports as it goes; the CLI draws it as bars, tests may count it."""

    def start(self, documents: int, evaluations: int) -> None: ...
    def step(self, what: str) -> None: ...
    def document(self, doc: dict) -> None: ...
    def evaluated(self) -> None: ...


__all__ = ["Progress", "run"]
