"""The Python API: the documented examples run, and what they show holds."""

import re

import numpy as np
import pytest
from conftest import ROOT
from test_embed import complete_version

import zest_core as zest
from zest_core.contexts.encoding import make_encoder

DOCS = [
    "Low vitamin D predicts hip fractures in older women.",
    "Statins reduce LDL cholesterol.",
    "A survey of fracture rates after vitamin D supplementation.",
]
CONTEXT = [
    "Serum vitamin D and bone mineral density in older adults.",
    "Statin therapy and cardiovascular outcomes: a meta-analysis.",
    "Hip fracture incidence in a national cohort.",
]


def python_blocks(page: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "docs" / page).read_text(), re.S)


@pytest.mark.model
@pytest.mark.slow
def test_python_api_page_examples_run(tmp_path, monkeypatch, capsys):
    """Every python block of docs/python-api.md, in order, in one namespace (the real
    GGUF model generates the context of the first example)."""
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks("python-api.md")
    assert len(blocks) >= 8
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "docs/python-api.md", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "complete 2 documents" in printed
    assert namespace["hits"][0][0].id == 0  # the vitamin D fracture document
    assert 0 < namespace["scores"]["default"]["ndcg_at_10"] <= 1
    assert printed.strip().endswith("bee")


def test_reexports_cover_users_and_plugin_authors():
    from zest_core.corpus.store import Store
    from zest_core.plugin.encoder import Encoder
    from zest_core.plugin.filter import Filter
    from zest_core.plugin.generation import Generator
    from zest_core.plugin.strategy import AnchorStrategy

    assert (zest.Encoder, zest.Filter, zest.Generator, zest.Store, zest.AnchorStrategy) == (
        Encoder,
        Filter,
        Generator,
        Store,
        AnchorStrategy,
    )
    assert callable(zest.generate) and callable(zest.load_encoder)


def test_search_equals_the_encoders_full_scores():
    """API search = the hybrid's scores over the whole document set (zest eval's scoring)."""
    enc = zest.load_encoder("hybrid", context=CONTEXT, weight=0.5)
    hits = enc.search(["vitamin D and fractures", "cholesterol drugs"], DOCS, top_k=3)
    encoder = make_encoder("hybrid", weight=0.5)
    encoder.use(encoder.derive(CONTEXT))
    queries = ["vitamin D and fractures", "cholesterol drugs"]
    full = encoder.scores(
        queries, encoder.embed_queries(queries), DOCS, encoder.embed_documents(DOCS)
    )
    for row, ranked in zip(full, hits):
        assert [h.id for h in ranked] == list(np.argsort(-row, kind="stable"))
        assert np.allclose([h.score for h in ranked], np.sort(row)[::-1], atol=1e-6)


def test_sparse_weights_reproduce_bm25_with_the_context_statistics():
    from zest_encoders import HASHED, sparse_dot

    enc = zest.load_encoder("hybrid", context=CONTEXT)
    d, q = enc.encode_documents(DOCS), enc.encode_queries(["vitamin fracture zebra"])
    assert np.allclose(
        sparse_dot(q.sparse, d.sparse), enc.encoder.bm25(["vitamin fracture zebra"], DOCS)
    )
    ids, weights = next(d.sparse_rows())
    assert ids.dtype == np.uint32 and weights.dtype == np.float32 and (weights > 0).all()
    vocabulary = enc.vocabulary
    known = [i for i in ids if i < HASHED]
    assert {vocabulary[i] for i in known} == {"vitamin", "hip", "older"}
    # 'low', 'predicts', 'fractures', 'women' are not in the context: hashed, and (each
    # once in the document, like the others) weigh most
    assert len(ids) - len(known) == 4
    assert weights[ids >= HASHED].min() > weights[ids < HASHED].max()
    # stable across encoder objects (other processes, machines)
    again = zest.load_encoder("hybrid", context=CONTEXT).encode_documents(DOCS[:1])
    assert list(again.sparse.indices) == list(d.sparse.indices[: len(ids)])


def test_context_from_the_store_is_cached(store):
    version = complete_version(store, CONTEXT)
    enc = zest.load_encoder("hybrid", context="ctx", store=store)
    assert enc.context.label.startswith(f"version {version}")
    assert store.db["context_cache"].count == 1
    zest.load_encoder("hybrid", context=version, store=store)
    assert store.db["context_cache"].count == 1


@pytest.mark.parametrize(
    "context, message",
    [
        ("nosuch", "nosuch"),
        ([], "empty list"),
        ("real", "needs a target corpus"),
    ],
)
def test_bad_context_is_one_clear_error(store, context, message):
    with pytest.raises(zest.ZestError, match=message):
        zest.load_encoder("hybrid", context=context, store=store)


def test_a_running_version_is_not_a_context(store):
    version = store.create_version("ctx", kind="run", config={}, target_docs=2)
    store.add_document(version, 0, "a document")
    with pytest.raises(zest.ZestError, match="not complete"):
        zest.load_encoder("hybrid", context=version, store=store)


def test_one_string_is_refused():
    enc = zest.load_encoder("dense")
    with pytest.raises(zest.ZestError, match="list of texts"):
        enc.encode_documents("one string")


def test_dense_encoder_has_no_sparse_side():
    enc = zest.load_encoder("dense")
    out = enc.encode_documents(DOCS)
    assert out.sparse is None and list(out.sparse_rows()) == [] and enc.vocabulary == []
    hits = enc.search(["cholesterol"], DOCS, top_k=1)
    assert hits[0][0].id == 1
