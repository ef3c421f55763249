"""An experiment grid (``zest experiment FILE``): the TOML file loaded and every value checked
before any work, so a typo fails in a second, not after hours of generation."""

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ZestError
from ..plugin import manager as plugins
from . import adapt_arms
from .beir import FILES
from .selection import METHODS

GENERATION_KEYS = (
    "generator",
    "model",
    "options",
    "strategy",
    "templates",
    "k",
    "anchors",
    "docs",
    "selection",
)
GENERATION_DEFAULTS = {
    "generator": "llama-cpp",
    "model": None,
    "options": {},
    "strategy": "hierarchical",
    "templates": None,
    "k": 5,
    "anchors": 20,
    "docs": 512,
    "selection": "random",
}
BASELINES = ("none", "generic", "real")  # deterministic contexts, one result per dataset
SYNTHETIC = ("synthetic", "other-domain")
TABLES = {
    "experiment": {"name", "seeds", "contexts", "eval_seed", "report", "notes"},
    "dataset": {"name", "path", "exemplars", "other_domain", "pool"},
    "encoder": {"name", "model", "options", "tuned", "tune_docs", "adapted", "adapt"},
    "generation": set(GENERATION_KEYS),
    "ablations": set(GENERATION_KEYS) | {"at"},
}
POOL = 500  # corpus documents sampled as the exemplar pool when a dataset names none


@dataclass(frozen=True)
class Dataset:
    name: str
    path: Path
    exemplars: Path | None  # None: sampled from the corpus, among unjudged documents
    other_domain: str | None  # the dataset whose exemplars make the other-domain context
    pool: int = POOL


@dataclass(frozen=True)
class Arm:
    """One synthetic context per (dataset, seed): a generation config and whose exemplars."""

    label: str  # "synthetic", "k=1", "docs=64", "other-domain", ...
    axis: str | None  # the ablated key (None for the base and other-domain)
    value: Any
    config: dict = field(hash=False)
    exemplars_from: str | None = None  # another dataset's name (other-domain)


@dataclass
class Grid:
    path: Path
    name: str
    notes: str
    seeds: list[int]
    eval_seed: int
    baselines: list[str]  # none, generic, real:N, version refs
    datasets: list[Dataset]  # the datasets run (all of the file's unless a part was asked)
    encoders: list[dict]
    base: dict
    arms: list[Arm]
    report: Path
    # every [[dataset]] of the file: where other-domain exemplars come from, even when only
    # some datasets are run
    sources: list[Dataset]
    part: str  # "--dataset X --context Y" when only part of the grid runs, else ""


# parsing -----------------------------------------------------------------------------------
def _fail(path: Path, message: str) -> ZestError:
    return ZestError(f"{path}: {message}")


def _table(path: Path, data: Any, name: str) -> dict:
    if not isinstance(data, dict):
        raise _fail(path, f"[{name}] must be a table")
    unknown = sorted(set(data) - TABLES[name])
    if unknown:
        raise _fail(
            path,
            f"unknown {'axis' if name == 'ablations' else 'key'} "
            f"{', '.join(map(repr, unknown))} in [{name}] "
            f"(known: {', '.join(sorted(TABLES[name]))})",
        )
    return data


def _relative(path: Path, value: str | None) -> Path | None:
    return None if value in (None, "") else (path.parent / Path(value).expanduser()).resolve()


def load(
    file: str | Path,
    report: str | Path | None = None,
    only_datasets: list[str] | tuple = (),
    only_contexts: list[str] | tuple = (),
) -> Grid:
    """Parse and check an experiment file; nothing runs yet. ``only_datasets`` and
    ``only_contexts``, when given, run part of it: only those of the file's datasets and
    contexts (a long grid in parts; every stored run and result is shared with the whole
    grid, so running the whole file afterwards reuses them)."""
    path = Path(file)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ZestError(f"experiment file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise _fail(path, f"not valid TOML ({e})") from None
    unknown = sorted(set(data) - set(TABLES))
    if unknown:
        raise _fail(
            path, f"unknown table {', '.join(map(repr, unknown))} (known: {', '.join(TABLES)})"
        )
    top = _table(path, data.get("experiment", {}), "experiment")
    sources = [
        _dataset(path, _table(path, d, "dataset"))
        for d in _list(path, data.get("dataset"), "dataset")
    ]
    datasets = _part(path, sources, only_datasets)
    names = [d.name for d in sources]
    if len(set(names)) != len(names):
        raise _fail(path, "dataset names must differ")
    for d in sources:
        if d.other_domain and d.other_domain not in names:
            raise _fail(
                path,
                f"dataset {d.name}: other_domain {d.other_domain!r} is not a "
                f"dataset of this file ({', '.join(names)})",
            )
    encoders = [_table(path, e, "encoder") for e in _list(path, data.get("encoder"), "encoder")]
    encoders = encoders or [{"name": "hybrid"}]
    known_encoders = plugins.encoders()
    for e in encoders:
        if e.get("name", "hybrid") not in known_encoders:
            raise _fail(
                path,
                f"unknown encoder {e.get('name')!r} "
                f"(available: {', '.join(sorted(known_encoders))})",
            )
        _check_tuning(path, e)
    base = {**GENERATION_DEFAULTS, **_table(path, data.get("generation", {}), "generation")}
    base = _generation(path, base, "[generation]")
    seeds = top.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise _fail(path, "[experiment] seeds must be a non-empty list of integers")
    contexts = _part_contexts(
        path, top.get("contexts", ["none", "generic", "real", "synthetic"]), only_contexts
    )
    baselines, wanted = _contexts(path, contexts, datasets)
    for e in encoders:  # adapted = true: checked against the contexts it trains on
        try:
            adapt_arms.check(e, baselines, wanted)
        except ZestError as error:
            raise _fail(path, str(error)) from None
    arms = _arms(path, base, _table(path, data.get("ablations", {}), "ablations"), wanted, datasets)
    name = top.get("name", path.stem)
    if not isinstance(name, str) or name in ("", ".", "..") or Path(name).name != name:
        # it names the report folder under reports/: "../../x" wrote outside it
        raise _fail(path, f"[experiment] name must be a plain name, no path: not {name!r}")
    target = (
        Path(report)
        if report
        else (_relative(path, top.get("report")) or path.parent / "reports" / name)
    )
    return Grid(
        path,
        name,
        top.get("notes", ""),
        seeds,
        int(top.get("eval_seed", 0)),
        baselines,
        datasets,
        encoders,
        base,
        arms,
        target,
        sources,
        " ".join(
            [f"--dataset {d.name}" for d in datasets if only_datasets]
            + [f"--context {c}" for c in contexts if only_contexts]
        ),
    )


def _part(path: Path, sources: list[Dataset], names) -> list[Dataset]:
    """The datasets to run: the named ones of the file (all when none is named)."""
    if not sources:
        raise _fail(path, "name at least one [[dataset]]")
    known = [d.name for d in sources]
    if unknown := [n for n in names if n not in known]:
        raise _fail(
            path, f"no dataset {', '.join(map(repr, unknown))} (the file has {', '.join(known)})"
        )
    return [d for d in sources if not names or d.name in names]


def _part_contexts(path: Path, declared, names) -> list:
    """The contexts to run: the named ones of the file's [experiment] contexts (all when none
    is named)."""
    if unknown := [n for n in names if n not in map(str, declared)]:
        raise _fail(
            path,
            f"no context {', '.join(map(repr, unknown))} in [experiment] contexts"
            f" ({', '.join(map(str, declared))})",
        )
    return [c for c in declared if not names or str(c) in names]


def _check_tuning(path: Path, encoder: dict) -> None:
    from .tuning import GRIDS, MIN_DOCUMENTS

    tuned, limit = encoder.get("tuned", False), encoder.get("tune_docs")
    if not isinstance(tuned, bool):
        raise _fail(path, "[encoder] tuned must be true or false")
    if tuned and encoder.get("name", "hybrid") not in GRIDS:
        raise _fail(path, f"[encoder] tuned: only {', '.join(GRIDS)} can be tuned")
    if limit is not None and (not tuned or not isinstance(limit, int) or limit < MIN_DOCUMENTS):
        raise _fail(
            path, f"[encoder] tune_docs needs tuned = true and an integer >= {MIN_DOCUMENTS}"
        )


def _list(path: Path, value: Any, name: str) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _dataset(path: Path, d: dict) -> Dataset:
    where = _relative(path, d.get("path"))
    if where is None:
        raise _fail(path, "each [[dataset]] needs a path (a BEIR directory)")
    if not where.is_dir():
        raise ZestError(f"dataset directory {where} does not exist")
    if missing := [f for f in FILES if not (where / f).is_file()]:
        raise ZestError(f"dataset {where} lacks {', '.join(missing)}")
    exemplars = _relative(path, d.get("exemplars"))
    if exemplars is not None and not exemplars.exists():
        raise ZestError(f"exemplar path {exemplars} does not exist")
    return Dataset(
        d.get("name", where.name), where, exemplars, d.get("other_domain"), int(d.get("pool", POOL))
    )


def _generation(path: Path, config: dict, where: str, subset: bool = False) -> dict:
    """Check one generation config's values and normalise it. A ``subset`` (a smaller J'
    taken from a larger run) may have fewer documents than anchors."""
    config = dict(config)
    plugins.get_generator(config["generator"])  # unknown names: one clear error
    strategy = plugins.get_anchor_strategy(config["strategy"])
    if config["selection"] not in METHODS:
        raise _fail(
            path,
            f"{where}: unknown selection {config['selection']!r} "
            f"(choose from {', '.join(METHODS)})",
        )
    for key in ("k", "anchors", "docs"):
        if not isinstance(config[key], int) or config[key] < 1:
            raise _fail(path, f"{where}: {key} must be a positive integer")
    if strategy.uses_anchors and config["anchors"] > config["docs"] and not subset:
        raise _fail(path, f"{where}: anchors ({config['anchors']}) exceeds docs ({config['docs']})")
    if not isinstance(config["options"], dict):
        raise _fail(path, f"{where}: options must be a table")
    config["model"] = config["model"] or None
    config["templates"] = str(_relative(path, config["templates"])) if config["templates"] else None
    config["anchors"] = config["anchors"] if strategy.uses_anchors else 0
    return config


def _contexts(path: Path, contexts: Any, datasets: list[Dataset]) -> tuple[list[str], set]:
    if not isinstance(contexts, list) or not contexts:
        raise _fail(path, "[experiment] contexts must be a non-empty list")
    baselines, wanted = [], set()
    for spec in map(str, contexts):
        kind = spec.partition(":")[0]
        if spec in SYNTHETIC:
            wanted.add(spec)
        elif kind in BASELINES or spec.isdigit():
            baselines.append(spec)
        else:
            raise _fail(
                path,
                f"unknown context {spec!r} (none, generic, real, real:N, "
                f"synthetic, other-domain or a corpus version id)",
            )
    if "other-domain" in wanted and not all(d.other_domain for d in datasets):
        raise _fail(path, "the other-domain context needs other_domain on every [[dataset]]")
    return baselines, wanted


def _arms(
    path: Path, base: dict, ablations: dict, wanted: set, datasets: list[Dataset]
) -> list[Arm]:
    """The base, other-domain, and one arm per ablated value. Axes other than J' (``docs``)
    vary around the ``at`` settings (e.g. a smaller J'); the arm at those settings with no
    axis changed is the ``reference`` (the base itself when ``at`` changes nothing)."""
    arms = [Arm("synthetic", None, None, base)] if wanted else []
    if "other-domain" in wanted:
        arms.append(Arm("other-domain", None, None, base, exemplars_from="other"))
    at = ablations.get("at", {})
    if not isinstance(at, dict) or set(at) - set(GENERATION_KEYS):
        raise _fail(path, f"[ablations.at] takes generation keys ({', '.join(GENERATION_KEYS)})")
    reference = _generation(path, {**base, **at}, "[ablations.at]")
    if reference != base and set(ablations) - {"at", "docs"}:
        arms.append(Arm("reference", "*", None, reference))
    for axis, values in ablations.items():
        if axis == "at":
            continue
        if not isinstance(values, list):
            raise _fail(path, f"[ablations] {axis} must be a list of values")
        local = base if axis == "docs" else {**base, **at}
        for value in values:
            changed = (
                {**local, **value}
                if isinstance(value, dict) and axis != "options"
                else {**local, axis: value}
            )
            config = _generation(
                path,
                changed,
                f"[ablations] {axis}={value!r}",
                subset=axis == "docs" and value < base["docs"],
            )
            arms.append(Arm(f"{axis}={show(value)}", axis, value, config))
    seen, unique = set(), []
    for arm in arms:
        if arm.label not in seen:
            seen.add(arm.label)
            unique.append(arm)
    return unique


def show(value: Any) -> str:
    if isinstance(value, dict):
        return "/".join(str(v) for v in value.values() if v not in (None, {}, ""))
    return str(value)


# exemplars --------------------------------------------------------------------------------


__all__ = ["Arm", "Dataset", "Grid", "load", "show"]
