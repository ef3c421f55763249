"""The dense and hybrid encoders with the real all-MiniLM-L6-v2, and the context cache."""

import numpy as np
import pytest

from zest_core import ZestError
from zest_core.contexts.encoding import (
    context_state,
    document_vectors,
    make_encoder,
    resolve_context,
)
from zest_core.plugin.manager import encoders

DOCS = [
    "Aspirin reduces the risk of myocardial infarction in adults.",
    "Statins lower cholesterol and cardiovascular mortality.",
    "The telomerase enzyme maintains chromosome ends in stem cells.",
    "Myocardial infarction outcomes improve with early reperfusion.",
]


@pytest.fixture(scope="module")
def hybrid():
    return make_encoder("hybrid", max_seq_length=64)


def test_plugins_register_the_three_encoders():
    assert {"dense", "hybrid", "cde"} <= set(encoders())


def test_dense_embeds_normalised_vectors_with_the_packaged_model():
    encoder = make_encoder("dense", max_seq_length=64)
    vectors = encoder.embed_documents(DOCS)
    assert vectors.shape == (4, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    query = encoder.embed_queries(["heart attack prevention"])
    scores = encoder.scores(["q"], query, DOCS, vectors)[0]
    assert scores.argmax() in (0, 3)  # a myocardial infarction document


def test_dense_model_must_be_a_local_folder(tmp_path):
    with pytest.raises(ZestError, match="not a local sentence-transformers model folder"):
        make_encoder("dense", str(tmp_path))


def test_encoder_options_are_checked():
    with pytest.raises(ZestError, match="unknown option nope for 'hybrid'"):
        make_encoder("hybrid", nope=1)
    with pytest.raises(ZestError, match="weight for 'hybrid' must be between 0 and 1"):
        make_encoder("hybrid", weight="1.5")


def test_hybrid_statistics_come_from_the_context(hybrid):
    state = hybrid.derive(["cells divide", "cells grow and cells die", "telomerase"])
    df = dict(zip(state["terms"], state["df"]))
    assert df == {"cells": 2, "divide": 1, "grow": 1, "die": 1, "telomerase": 1}
    assert state["n_docs"][0] == 3 and state["avgdl"][0] == pytest.approx(
        7 / 3
    )  # stop words do not count


def test_context_idf_reorders_bm25(hybrid):
    documents = ["telomerase cells cells", "telomerase stem stem"]
    query = ["telomerase stem cells"]
    hybrid.use(None)  # uniform weights: both documents match two query terms alike
    uniform = hybrid.bm25(query, documents)[0]
    assert uniform[0] == pytest.approx(uniform[1])
    # a context where "cells" is everywhere and "stem" is rare makes document 2 win
    hybrid.use(hybrid.derive(["cells a", "cells b", "cells c", "stem d", "telomerase e"]))
    contextual = hybrid.bm25(query, documents)[0]
    assert contextual[1] > contextual[0]


def test_unknown_terms_weigh_most_and_stop_words_nothing(hybrid):
    hybrid.use(hybrid.derive(["common words here", "common words there"]))
    scores = hybrid.bm25(["the rare", "the common"], ["the rare thing", "the common thing"])
    assert scores[0, 0] > scores[1, 1] > 0 and scores[0, 1] == scores[1, 0] == 0


def test_context_of_stop_words_only_is_refused(hybrid):
    with pytest.raises(ZestError, match="no words"):
        hybrid.derive(["the and of", "a an the"])


def test_hybrid_weight_one_ranks_like_dense(hybrid):
    dense_only = make_encoder("hybrid", max_seq_length=64, weight=1)
    vectors = dense_only.embed_documents(DOCS)
    queries = ["heart attack", "chromosome ends"]
    q = dense_only.embed_queries(queries)
    fused = dense_only.scores(queries, q, DOCS, vectors)
    assert (fused.argsort(axis=1) == (q @ vectors.T).argsort(axis=1)).all()


def test_context_cache_derives_once_per_context_and_settings(store, hybrid, monkeypatch):
    calls = []
    derive = type(hybrid).derive
    monkeypatch.setattr(
        type(hybrid), "derive", lambda self, docs: calls.append(docs) or derive(self, docs)
    )
    context = resolve_context(store, "real:all", hybrid, DOCS)
    first, cached_first = context_state(store, hybrid, context)
    second, cached_second = context_state(store, hybrid, context)
    assert (cached_first, cached_second) == (False, True) and len(calls) == 1
    assert list(second["terms"]) == list(first["terms"])
    other = make_encoder("hybrid", max_seq_length=64, k1=2.0)
    assert context_state(store, other, context)[1] is False  # settings are part of the key
    assert store.db["context_cache"].count == 2
    assert context_state(store, hybrid, resolve_context(store, "none", hybrid)) == (None, False)


def test_real_context_is_a_seeded_sample(store, hybrid):
    corpus = [f"document {i}" for i in range(20)]
    a = resolve_context(store, "real:5", hybrid, corpus, seed=1)
    assert (
        len(a.documents) == 5
        and a.documents == resolve_context(store, "real:5", hybrid, corpus, seed=1).documents
    )
    assert a.key != resolve_context(store, "real:5", hybrid, corpus, seed=2).key
    assert len(resolve_context(store, "real", hybrid, corpus).documents) == 20  # < 512
    with pytest.raises(ZestError, match="needs a target corpus"):
        resolve_context(store, "real", hybrid)


def test_document_vectors_are_cached_per_corpus_and_model(store):
    dense = make_encoder("dense", max_seq_length=64)
    none = resolve_context(store, "none", dense)
    vectors, cached = document_vectors(store, dense, "toy", "sha-1", DOCS, none)
    again, cached_again = document_vectors(
        store, make_encoder("hybrid", max_seq_length=64), "toy", "sha-1", DOCS, none
    )
    assert (cached, cached_again) == (False, True)
    assert np.array_equal(vectors, again)
    assert document_vectors(store, dense, "toy", "sha-2", DOCS, none)[1] is False
    row = next(store.db["embedding_cache"].rows)
    assert (row["dataset"], row["count"], row["dim"]) == ("toy", 4, 384)
