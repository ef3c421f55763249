"""``[[encoder]] adapted = true`` in ``zest experiment``: the encoder's dense model fine-tuned
(``zest adapt``) on each synthetic context and scored, beside the references that say what a
gain is made of (issue #22). Per dataset and generation seed:

- ``adapted(synthetic)``: trained on the synthetic context's (query, document) pairs and
  scored with no context (training alone); ``adapted(synthetic)+synthetic``, for an encoder
  that reads a context (the hybrid), scored with that context too (both);
- ``adapted(other-domain)``: trained on the other-domain context's pairs (another dataset's
  exemplars): the domain, or any fine-tuning? Its ``+synthetic`` row is scored with the
  dataset's own synthetic context, so that only the training differs from the row above;
- ``adapted(real:N)``: trained on synthetic queries written over the ``real:N`` sample of the
  target corpus (the full-access analogue of GPL/InPars); ``+real:N`` scores it with that
  sample as context. The sample becomes a version of kind ``real`` (its documents are exactly
  the ``real:N`` context's) so that queries can be written and stored for it, one version per
  generation seed (each seed writes its own queries).

The encoder's unadapted arms (``none``, ``synthetic``, ``real:N``...) are the same section's
other rows, so "context alone", "training alone" and "both" are paired differences within
one section (``adapt_report``). Queries are written once and stored, a model is trained once
per inputs (the adapt registry reuses a complete one), results are reused: a rerun trains and
scores nothing again. Training options are the grid's ``adapt`` table or ``zest adapt``'s
defaults, fixed a priori; the training seed is the generation seed unless the table names
one. Nothing here reads the dataset's judgements.
"""

from collections.abc import Callable
from dataclasses import dataclass

from ..corpus.store import Store
from ..errors import ZestError

ADAPTABLE = ("dense", "hybrid")  # the encoders whose dense model ``adapted:ID`` replaces
KIND = "real"  # versions holding a real:N sample, to write queries for


@dataclass(frozen=True)
class AdaptedArm:
    source: str  # what the model is trained on: synthetic, other-domain or real:N
    context: str  # what it is scored with: none, synthetic or real:N

    @property
    def label(self) -> str:
        return f"adapted({self.source})" + ("" if self.context == "none" else f"+{self.context}")


# grid checks ------------------------------------------------------------------------------
def check(encoder: dict, baselines: list[str], synthetic: set) -> None:
    """One clear error for a bad ``adapted`` / ``adapt`` combination, at load time."""
    adapted, given = encoder.get("adapted", False), encoder.get("adapt")
    if not isinstance(adapted, bool):
        raise ZestError("[encoder] adapted must be true or false")
    if given is not None and not adapted:
        raise ZestError("[encoder] adapt (zest adapt's options) needs adapted = true")
    if not adapted:
        return
    name = encoder.get("name", "hybrid")
    if name not in ADAPTABLE:
        raise ZestError(
            f"[encoder] adapted: {name!r} has no dense model to fine-tune"
            f" (adaptable: {', '.join(ADAPTABLE)})"
        )
    if encoder.get("tuned"):
        raise ZestError(
            "[encoder] adapted and tuned cannot be combined (tuning chooses settings for the"
            " base model, not the adapted one); give each its own [[encoder]]"
        )
    if "synthetic" not in synthetic:
        raise ZestError(
            "[encoder] adapted = true trains on the synthetic context: add 'synthetic' to"
            " [experiment] contexts"
        )
    for spec in baselines:
        if spec.partition(":")[0] == "real" and not _sized(spec):
            raise ZestError(
                f"[encoder] adapted = true writes queries over the real:N sample to train its"
                f" full-access reference: name N (e.g. real:512), not {spec!r}"
            )
    if given is not None and not isinstance(given, dict):
        raise ZestError("[encoder] adapt must be a table of zest adapt options")
    from .adapt import check_options

    check_options(given or {})  # unknown option, bad value, NaN, a loss it cannot take


def _sized(spec: str) -> bool:
    return spec.startswith("real:") and spec[5:].isdigit() and int(spec[5:]) > 0


# the arms ---------------------------------------------------------------------------------
def reads_context(name: str) -> bool:
    """Whether the encoder's scores depend on the context (the hybrid's BM25 does; the dense
    encoder's do not, so its ``+context`` rows would repeat the ``none`` ones)."""
    from ..plugin.encoder import Encoder
    from ..plugin.manager import get_encoder

    cls = get_encoder(name)
    return cls.vectors_use_context or cls.derive is not Encoder.derive


def arms(grid, encoder: dict) -> list[AdaptedArm]:
    """The adapted arms of one ``[[encoder]]`` (none unless ``adapted = true``)."""
    if not encoder.get("adapted"):
        return []
    sources = ["synthetic"]
    if any(arm.label == "other-domain" for arm in grid.arms):
        sources.append("other-domain")
    sources += [spec for spec in grid.baselines if _sized(spec)]
    reads = reads_context(encoder.get("name", "hybrid"))
    found = []
    for source in sources:
        found.append(AdaptedArm(source, "none"))
        if reads:
            found.append(AdaptedArm(source, source if _sized(source) else "synthetic"))
    return found


def label_suffix(encoder: dict) -> str:
    if not encoder.get("adapted"):
        return ""
    options = ",".join(f"{k}={v}" for k, v in sorted((encoder.get("adapt") or {}).items()))
    return " adapted" + (f"[{options}]" if options else "")


# the real:N sample as a version -----------------------------------------------------------
def real_version(store: Store, dataset, spec: str, sample_seed: int, seed: int) -> int:
    """The complete ``real`` version holding exactly the documents of context ``spec``
    (``real:N``, sampled with ``sample_seed`` as scoring samples it) for generation seed
    ``seed``: found, or made in one transaction."""
    from .beir import load_beir
    from .encoding import resolve_context

    data = load_beir(dataset.path)
    texts = resolve_context(store, spec, None, data.document_texts(), sample_seed).documents
    config = {
        "real": spec,
        "corpus_sha256": data.fingerprint,
        "sample_seed": sample_seed,
        "n_docs": len(texts),
    }

    def found() -> int | None:
        for v in store.versions():
            if v["kind"] == KIND and v["status"] == "complete" and v["seed"] == seed:
                stored = store.version(v["id"])["config"]
                if all(stored.get(k) == value for k, value in config.items()):
                    return v["id"]
        return None

    if known := found():
        return known
    with store.transaction():
        if known := found():  # made meanwhile by a concurrent experiment
            return known
        version = store.create_version(
            f"{dataset.name}-real",
            kind=KIND,
            config={**config, "dataset": str(dataset.path)},
            seed=seed,
            target_docs=len(texts),
            n_anchors=0,
        )
        for ordinal, text in enumerate(texts):
            store.add_document(version, ordinal, text)
        store.finish(version, "complete", 0.0)
    return version


# training and scoring ---------------------------------------------------------------------
def adapted_model(
    store: Store, version: int, writer: int, encoder: dict, seed: int, note: Callable
) -> dict:
    """The adapted model of ``version``'s pairs: its missing queries written first (by the
    generator of version ``writer``), then trained, or the complete one for the same inputs
    reused."""
    from .adapt import adapt
    from .tuning import missing_queries, version_generator, write_queries

    if missing_queries(store, version):
        generator = version_generator(store, writer)
        try:
            query_seed = store.version(version)["seed"] or 0  # as tuned encoders write them
            written = write_queries(store, version, generator, seed=query_seed)
        finally:
            generator.close()
        note(f"version {version}: {written} synthetic queries written")
    row = adapt(store, version, encoder.get("model") or None, seed=seed, **encoder.get("adapt", {}))
    if not row["reused"]:
        note(
            f"version {version}: adapted model {row['id']} trained on {row['pairs']} pairs"
            f" in {row['wall_seconds']:.0f} s"
        )
    return row


def score(store: Store, grid, dataset, encoder: dict, jobs: list, progress, note) -> list[dict]:
    """Every adapted arm of ``encoder`` on ``dataset``, per generation seed: one record each,
    as ``experiment.run`` makes them."""
    from .adapted import use_registry
    from .evaluate import evaluate_contexts
    from .experiment import encoder_label, generations

    wanted = arms(grid, encoder)
    if not wanted:
        return []
    use_registry(store.path)  # adapted:ID is looked up in the experiment's store
    records, generation = [], generations(jobs)
    for seed in grid.seeds:
        own = {j.arm.label: j for j in jobs if j.dataset is dataset and j.seed == seed}
        synthetic = own["synthetic"].version
        for source in dict.fromkeys(arm.source for arm in wanted):
            group = [arm for arm in wanted if arm.source == source]
            if _sized(source):
                version, config = real_version(store, dataset, source, grid.eval_seed, seed), None
                writer = synthetic  # the same generator, on the same exemplars
            else:
                version, config = own[source].version, own[source].arm.config
                writer = version
            progress.step(f"{dataset.name}: adapting on {source} (version {version}), seed {seed}")
            model = adapted_model(store, version, writer, encoder, seed, note)
            progress.step(f"{dataset.name}: scoring adapted model {model['id']}")
            rows = evaluate_contexts(
                store,
                dataset.path,
                encoder.get("name", "hybrid"),
                [str(synthetic) if arm.context == "synthetic" else arm.context for arm in group],
                model=f"adapted:{model['id']}",
                seed=grid.eval_seed,
                reuse=True,
                note=lambda line, d=dataset.name: note(f"{d}: {line}"),
                on_row=lambda row: progress.evaluated(),
                **encoder.get("options", {}),
            )
            for arm, row in zip(group, rows):
                records.append(
                    {
                        "dataset": dataset.name,
                        "encoder": encoder_label(encoder),
                        "arm": arm.label,
                        "axis": "adapted",
                        "value": source,
                        "config": config,
                        "seed": seed,
                        "context": f"{row['label']}, model adapted:{model['id']}",
                        "version": version,
                        "generation": generation[dataset.name, seed],
                        "result_id": row["id"],
                        "ndcg_at_10": row["ndcg_at_10"],
                        "recall_at_100": row["recall_at_100"],
                        "per_query": row["per_query"],
                        "reused": row["reused"],
                    }
                )
    return records


__all__ = ["ADAPTABLE", "AdaptedArm", "adapted_model", "arms", "check", "real_version", "score"]
