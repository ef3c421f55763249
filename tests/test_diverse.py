"""The diverse anchor strategy: a candidate that repeats an earlier anchor's topic is passed
over, a model stuck on one topic still gets its anchors, and a real-model run finishes."""

import pytest

from zest_core import ZestError
from zest_core.plugin.generation import Completion, Generator
from zest_core.plugin.manager import get_anchor_strategy

CXCR4 = "CXCR4 signalling in breast cancer metastasis"
CXCR4_AGAIN = "CXCR4 receptor signalling drives breast tumour spread"
VITAMIN = "Vitamin D intake and bone density in older adults"


class Scripted(Generator):
    """Anchor samples in a fixed order: request key i gets titles[i] (the last one after)."""

    name = "scripted"

    def __init__(self, titles):
        super().__init__()
        self.titles = titles

    def complete(self, request):
        text = self.titles[min(request.key, len(self.titles) - 1)]
        return Completion(" " + text + "\n", prompt_tokens=10, completion_tokens=8)


def templates(tmp_path, **anchor):
    """The shipped hierarchical templates with extra [anchor] keys."""
    from zest_anchors import TEMPLATES

    text = (TEMPLATES / "hierarchical.toml").read_text()
    extra = "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in anchor.items())
    path = tmp_path / "t.toml"
    path.write_text(text.replace("[anchor]\n", "[anchor]\n" + extra))
    return str(path)


def texts(anchors):
    return [a["text"] for a in anchors]


def test_hierarchical_keeps_the_repeated_topic(exemplars):
    strategy = get_anchor_strategy("hierarchical")()
    made = strategy.make_anchors(exemplars, 2, Scripted([CXCR4, CXCR4_AGAIN, VITAMIN]), 0)
    assert texts(made) == [CXCR4, CXCR4_AGAIN]  # word-set Jaccard 0.3: not a near-copy


@pytest.mark.parametrize("mode", ["embedding", "jaccard"])
def test_diverse_passes_over_a_candidate_that_repeats_an_earlier_topic(exemplars, tmp_path, mode):
    strategy = get_anchor_strategy("diverse")(templates(tmp_path, diverse=mode, candidates=1))
    made = strategy.make_anchors(exemplars, 2, Scripted([CXCR4, CXCR4_AGAIN, VITAMIN]), 0)
    # one CXCR4 title (whichever is farther from the exemplars), then the new topic
    assert texts(made)[1] == VITAMIN and texts(made)[0] in (CXCR4, CXCR4_AGAIN)
    assert strategy.report["diverse"] == mode and strategy.report["relaxed"] == 0
    assert strategy.report["samples"] == 3
    assert sum(a["attempts"] for a in made) == 3  # every sample's cost is carried by an anchor


def test_farthest_candidate_first_and_model_stuck_on_one_topic_still_finishes(exemplars, tmp_path):
    stuck = [CXCR4, CXCR4_AGAIN, "CXCR4 antagonists slow breast cancer spread in mice"]
    strategy = get_anchor_strategy("diverse")(templates(tmp_path, diverse="jaccard"))
    made = strategy.make_anchors(exemplars, 3, Scripted(stuck), 0)
    assert len(made) == 3 and strategy.report["relaxed"] >= 1
    assert strategy.report["samples"] <= 3 * 6  # the hierarchical retry budget


def test_unknown_mode_is_one_clear_error(exemplars, tmp_path):
    """Refused with the other template settings, before any sample is drawn."""
    with pytest.raises(ZestError, match="diverse must be one of 'auto', 'embedding' or"):
        get_anchor_strategy("diverse")(templates(tmp_path, diverse="cosine"))


def test_every_version_records_its_anchor_diversity(store, exemplars):
    from zest_core.corpus import pipeline
    from zest_core.corpus.compare import version_metrics

    vid = pipeline.start(
        store,
        exemplars=exemplars,
        corpus="d",
        generator="fake",
        strategy="diverse",
        n_anchors=3,
        n_docs=3,
        seed=4,
    )
    provenance = store.version(vid)["provenance"]["anchors"]
    assert provenance["diversity"] == pytest.approx(version_metrics(store, vid)["anchor_diversity"])
    assert provenance["diverse"] in ("embedding", "jaccard")
    plain = pipeline.start(
        store, exemplars=exemplars, corpus="h", generator="fake", n_anchors=2, n_docs=2, seed=4
    )
    assert set(store.version(plain)["provenance"]["anchors"]) == {"diversity"}


@pytest.mark.model
def test_real_model_diverse_run_finishes(store, exemplars, short_templates):
    from zest_core.corpus import pipeline

    vid = pipeline.start(
        store,
        exemplars=exemplars,
        corpus="real",
        strategy="diverse",
        templates=str(short_templates),
        n_anchors=3,
        n_docs=3,
        seed=0,
        options={"batch_size": 3, "workers": 1},
    )
    version = store.version(vid)
    assert version["status"] == "complete" and len(store.anchors(vid)) == 3
    assert version["provenance"]["anchors"]["diverse"] == "embedding"
