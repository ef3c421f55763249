"""What a run is made of: the bounds on what it may ask for, the config a version stores, what
that config resolves to on given exemplars (``versions.resolved``), and which options may
change when it is continued. ``pipeline`` runs it; ``zest experiment`` looks runs up by it."""

from ..errors import ZestError
from ..plugin import manager as plugins
from .store import now

# Generator options that change how, not what, is generated: they may change on resume (a
# run that failed on a bad host or timeout can be finished with the fix). A generator adds
# its own in ``resume_safe_options``.
RESUME_SAFE_OPTIONS = frozenset(
    {
        "host",
        "base_url",
        "timeout",
        "concurrency",
        "n_threads",
        "threads",
        "workers",
        "batch_size",
        "max_retries",
    }
)

# Bounds on what one run may ask for: beyond them a typo (an extra zero or three) would
# allocate the plan in memory or run for months before anything is noticed.
MAX_DOCS = 1_000_000
MAX_EXEMPLARS = 1000
MAX_SEED = 2**63 - 1  # stored in an SQLite INTEGER


def check_seed(seed: int, flag: str = "--seed") -> None:
    """The bounds on ``--seed``, for every command that takes one: a seed ``zest run`` would
    refuse must not pick its exemplars either (``zest exemplars pick``)."""
    if not 0 <= seed <= MAX_SEED:
        raise ZestError(f"{flag} must be between 0 and 2**63-1 (got {seed})")


def check_k(k: int) -> None:
    """The bounds on ``--k``, for every way of choosing exemplars (``zest run``, ``zest
    experiment``, ``zest exemplars pick``, ``generate``)."""
    if not 1 <= k <= MAX_EXEMPLARS:
        raise ZestError(f"--k must be between 1 and {MAX_EXEMPLARS} (got {k})")


def check_run(*, corpus: str, n_docs: int, n_anchors: int, seed: int, k: int | None = None) -> None:
    """Refuse a run's settings before any work (or any version) exists."""
    if not corpus.strip():
        raise ZestError("--name must not be empty")
    if corpus.isdigit():
        raise ZestError(
            f"--name {corpus} is all digits: it would be read as a version id;"
            " choose a name with a letter in it"
        )
    if not 1 <= n_docs <= MAX_DOCS:
        raise ZestError(f"--docs must be between 1 and {MAX_DOCS:,} (got {n_docs})")
    if not 1 <= n_anchors <= n_docs:
        raise ZestError(f"--anchors must be between 1 and --docs ({n_docs}); got {n_anchors}")
    check_seed(seed)
    if k is not None:
        check_k(k)


def run_config(
    *,
    generator: str,
    model: str | None,
    options: dict | None,
    strategy: str,
    templates: str | None,
    seed: int,
    n_anchors: int,
    n_docs: int,
) -> dict:
    """The config a run version stores: what was asked for, and all that is needed to resume
    it. Built only here, for ``start`` and for ``zest experiment``'s look-up of existing
    runs, so the two cannot drift apart."""
    uses_anchors = plugins.get_anchor_strategy(strategy).uses_anchors
    return {
        "generator": generator,
        "model": model,
        "options": options or {},
        "strategy": strategy,
        "templates": templates,
        "seed": seed,
        "round": 0,
        "n_anchors": n_anchors if uses_anchors else 0,
        "n_docs": n_docs,
    }


# The keys of a run config that decide what is generated (the rest is the history of its
# sessions: resumes, changes, empty ordinals).
RUN_KEYS = ("generator", "model", "options", "strategy", "templates", "seed", "round")
RUN_KEYS += ("n_anchors", "n_docs")


def resolve_config(config: dict, exemplars: list[dict]) -> dict:
    """What a run config runs with on these exemplars: the generator's options with the
    defaults filled in and ``auto`` values resolved (``resolve_options``), and the templates
    as the hashes of their content (so the default templates named or not resolve alike).
    Stored as a version's ``resolved``; two runs that resolve alike generate alike."""
    strat = plugins.get_anchor_strategy(config["strategy"])(templates=config["templates"])
    cls = plugins.get_generator(config["generator"])
    return {
        **{key: config.get(key) for key in RUN_KEYS},
        "options": cls.resolve_options(config["options"], exemplars),
        "templates": strat.template_hashes(),
    }


def as_run_now(resolved: dict) -> dict:
    """A stored ``resolved`` with the options its generator added since (``options_added``)
    filled in at the values it ran with: how stored runs are matched, compared and resumed."""
    options = resolved.get("options")
    if options is None or "generator" not in resolved:
        return resolved
    try:
        added = plugins.get_generator(resolved["generator"]).options_added
    except ZestError:  # a generator no longer installed: its options stay as stored
        return resolved
    return {**resolved, "options": {**added, **options}}


def pinned_options(config: dict, resolved: dict) -> dict:
    """The options to continue a version with: what it resolved to for every option that
    changes what is generated (so a changed default, e.g. ``vocab``, cannot switch a run
    half-way), and the asked values of the resume-safe ones, which resolve anew on this
    machine (``extra_buffers=auto`` depends on the CPU)."""
    safe = resume_safe_options(config["generator"])
    asked = config["options"]
    kept = {k: v for k, v in as_run_now(resolved).get("options", asked).items() if k not in safe}
    return {**kept, **{k: v for k, v in asked.items() if k in safe}}


def _resolved_session(config: dict, resolved: dict, exemplars: list[dict]) -> tuple[dict, dict]:
    """For one more session of a version made with ``config`` (resolved as ``resolved``):
    the config its generator is built with, and what that resolves to."""
    pinned = {**config, "options": pinned_options(config, resolved)}
    return pinned, resolve_config(pinned, exemplars)


def resume_safe_options(generator: str) -> frozenset[str]:
    cls = plugins.get_generator(generator)
    return RESUME_SAFE_OPTIONS | frozenset(cls.resume_safe_options)


def check_resume_changes(generator: str, changes: dict) -> None:
    unsafe = sorted(set(changes) - resume_safe_options(generator))
    if unsafe:
        raise ZestError(
            f"-o {', '.join(unsafe)} cannot change on resume or top-up (it changes"
            " what is generated); start a new run with it"
        )


def _with_changes(config: dict, changes: dict | None) -> dict:
    """The config for one more session of work: the resume round counted (it reseeds the
    documents that came back empty) and any changed options applied and recorded."""
    config = {**config, "resumes": config.get("resumes", 0) + 1}
    if changes:
        check_resume_changes(config["generator"], changes)
        config["options"] = {**config["options"], **changes}
        config["changes"] = [
            *config.get("changes", []),
            {"resume": config["resumes"], "at": now(), "options": changes},
        ]
    return config
