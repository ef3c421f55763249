"""How close a synthetic corpus comes to a real sample of its target domain.

Words are lower-cased ``\\w+`` runs (as ``zest compare`` counts them); a term's IDF in a
corpus of N documents is ``ln(N / df)``. The report:

- ``js_divergence``: Jensen-Shannon divergence (base 2, so in [0, 1]; 0 = the same
  distribution) between the two corpora's word distributions (counts over all documents);
- ``informative_coverage``: the share of the real sample's ``top`` most informative terms
  that the synthetic corpus uses at least once; a term's informativeness is its total count
  in the real sample times its IDF there (the corpus-level TF-IDF: frequent, but not in every
  document), ties broken alphabetically;
- ``idf_spearman``: Spearman correlation of the two IDFs over the terms both corpora use;
- ``anchor_diversity`` (as ``zest compare``), and per corpus ``distinct_2`` and
  ``document_diversity`` (one minus the mean word-set Jaccard similarity of all document
  pairs, the anchors' measure applied to documents).

Nothing here reads queries or relevance judgements.
"""

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..corpus.compare import anchor_diversity, distinct_n
from ..corpus.exemplars import read_exemplars
from ..corpus.store import Store
from ..deps import require
from ..errors import ZestError
from ..text import words


@dataclass
class Vocabulary:
    """Word counts and document frequencies of one corpus."""

    counts: Counter
    df: Counter
    n_docs: int

    @classmethod
    def of(cls, texts: list[str]) -> "Vocabulary":
        tokenised = [words(t) for t in texts]
        return cls(
            Counter(w for ws in tokenised for w in ws),
            Counter(w for ws in tokenised for w in set(ws)),
            len(texts),
        )

    def idf(self, terms: list[str]) -> np.ndarray:
        return np.log(self.n_docs / np.array([self.df[t] for t in terms], dtype=np.float64))


def js_divergence(a: Counter, b: Counter) -> float:
    require("scipy", "fidelity", by="zest corpora fidelity")
    from scipy.spatial.distance import jensenshannon

    vocabulary = sorted(set(a) | set(b))
    p = np.array([a[w] for w in vocabulary], dtype=np.float64)
    q = np.array([b[w] for w in vocabulary], dtype=np.float64)
    return float(jensenshannon(p, q, base=2) ** 2)  # scipy returns the distance, its root


def informative_terms(real: Vocabulary, top: int) -> list[str]:
    terms = sorted(real.counts)
    score = np.array([real.counts[t] for t in terms]) * real.idf(terms)
    order = sorted(range(len(terms)), key=lambda i: (-score[i], terms[i]))
    return [terms[i] for i in order[:top]]


def document_diversity(texts: list[str]) -> float | None:
    """One minus the mean Jaccard similarity of the word sets of all document pairs."""
    if len(texts) < 2:
        return None
    from scipy.sparse import csr_matrix

    sets = [set(words(t)) for t in texts]
    index = {w: i for i, w in enumerate(sorted(set().union(*sets)))}
    rows = [i for i, s in enumerate(sets) for _ in s]
    cols = [index[w] for s in sets for w in s]
    x = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(sets), len(index)))
    inter = (x @ x.T).toarray()
    sizes = np.array([len(s) for s in sets], dtype=np.float64)
    union = sizes[:, None] + sizes[None, :] - inter
    jac = np.divide(inter, union, out=np.ones_like(inter), where=union > 0)
    upper = np.triu_indices(len(sets), 1)
    return float(1 - jac[upper].mean())


def fidelity(
    synthetic: list[str], real: list[str], anchors: list[str] = (), top: int = 1000
) -> dict:
    """The report of the module docstring for two lists of document texts."""
    from scipy.stats import spearmanr

    syn, rea = Vocabulary.of(synthetic), Vocabulary.of(real)
    informative = informative_terms(rea, top)
    shared = sorted(set(syn.df) & set(rea.df))
    rho = spearmanr(syn.idf(shared), rea.idf(shared)).statistic if len(shared) > 2 else None
    return {
        "documents": {"synthetic": len(synthetic), "real": len(real)},
        "js_divergence": js_divergence(syn.counts, rea.counts),
        "informative_terms": len(informative),
        "informative_coverage": (
            sum(t in syn.counts for t in informative) / len(informative) if informative else None
        ),
        "shared_terms": len(shared),
        "idf_spearman": None if rho is None or np.isnan(rho) else float(rho),
        "anchor_diversity": anchor_diversity(list(anchors)),
        "distinct_2": {"synthetic": distinct_n(synthetic, 2), "real": distinct_n(real, 2)},
        "document_diversity": {
            "synthetic": document_diversity(synthetic),
            "real": document_diversity(real),
        },
    }


def real_sample(against: str | Path, size: int | None, seed: int = 0) -> list[str]:
    """Texts of a real corpus (a BEIR directory, or a .jsonl file or directory of them with a
    "text" per line): ``size`` of them sampled with ``seed``, or all (``None``)."""
    path = Path(against).expanduser()
    if path.is_file() and path.suffix != ".jsonl":
        raise ZestError(
            f"--against {path}: not a corpus (give a BEIR directory or a .jsonl"
            f' file with a "text" field on every line)'
        )
    texts = [doc["text"] for doc in read_exemplars([str(path)])]
    if len(texts) < 2:
        raise ZestError(
            f"--against {path}: a corpus needs at least 2 documents, found {len(texts)}"
        )
    if size is not None and size < len(texts):
        picked = sorted(random.Random(seed).sample(range(len(texts)), size))
        texts = [texts[i] for i in picked]
    return texts


def version_fidelity(
    store: Store,
    ref: int | str,
    against: str | Path,
    sample: int | str | None = None,
    seed: int = 0,
    top: int = 1000,
    plot: str | Path | None = None,
) -> dict:
    """Compare a complete version with a real sample of ``sample`` documents (default: as
    many as the version has, so that sizes do not drive the differences; "all": the whole
    corpus); optionally draw the plot."""
    version = store.require_complete(ref)
    synthetic = [d["text"] for d in store.documents(version["id"])]
    size = None if sample == "all" else int(sample or len(synthetic))
    real = real_sample(against, size, seed)
    report = {
        "version": version["id"],
        "corpus": version["corpus"],
        "against": str(against),
        "seed": seed,
        **fidelity(synthetic, real, [a["text"] for a in store.anchors(version["id"])], top),
    }
    if plot:
        draw(synthetic, real, plot, f"version {version['id']} ({version['corpus']})")
        report["plot"] = str(plot)
    return report


def draw(synthetic: list[str], real: list[str], path: str | Path, label: str) -> None:
    """Two panels: IDF in the real sample against IDF in the synthetic corpus over shared
    terms, and both rank-frequency curves (log-log)."""
    matplotlib = require("matplotlib", "fidelity", by="zest corpora fidelity --plot")
    matplotlib.use("Agg")  # files only: never open a window
    import matplotlib.pyplot as plt

    syn, rea = Vocabulary.of(synthetic), Vocabulary.of(real)
    shared = sorted(set(syn.df) & set(rea.df))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    left.scatter(rea.idf(shared), syn.idf(shared), s=4, alpha=0.3)
    top = max(np.log(rea.n_docs), np.log(syn.n_docs))
    left.plot([0, top], [0, top], color="grey", linewidth=0.8)
    left.set(
        xlabel="IDF in the real sample",
        ylabel=f"IDF in {label}",
        title=f"IDF over {len(shared)} shared terms",
    )
    for name, vocab in (("real sample", rea), (label, syn)):
        freq = np.sort(np.array(list(vocab.counts.values()), dtype=np.float64))[::-1]
        right.loglog(np.arange(1, len(freq) + 1), freq / freq.sum(), label=name)
    right.set(xlabel="rank", ylabel="relative frequency", title="rank-frequency")
    right.legend()
    fig.tight_layout()
    try:
        fig.savefig(path, format="png", dpi=110)
    except OSError as e:
        raise ZestError(f"cannot write the plot {path}: {e}") from None
    finally:
        plt.close(fig)


__all__ = ["fidelity", "real_sample", "version_fidelity"]
