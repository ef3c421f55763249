"""The hybrid encoder's generic-English prior on context document frequencies."""

import math

import numpy as np
import pytest

from zest_core import ZestError
from zest_core.contexts.encoding import Context, context_state
from zest_encoders import HybridEncoder

CONTEXT = [
    "The protein binds the receptor on the cell surface.",
    "Cell division needs the protein kinase.",
    "Receptor signalling changes the cell cycle.",
    "Kinase inhibitors slow tumour growth.",
]
VOCABULARY = ["cell", "water", "zzqxv", "protein"]  # water, zzqxv: unseen


def idf(encoder: HybridEncoder) -> dict[str, float]:
    ids = np.array([encoder.term_id(term) for term in VOCABULARY])
    df, n = encoder.document_frequencies(ids)
    values = np.log1p((n - df + 0.5) / (df + 0.5))
    return {term: float(value) for term, value in zip(VOCABULARY, values)}


def encoder_with(**options) -> HybridEncoder:
    encoder = HybridEncoder(**options)
    encoder.use(encoder.derive(CONTEXT))
    return encoder


def test_prior_lowers_the_idf_of_common_unseen_words_as_specified():
    from wordfreq import word_frequency

    plain, smoothed = idf(encoder_with()), idf(encoder_with(prior="wordfreq", prior_strength=50))
    n = len(CONTEXT)
    maximum = math.log1p((n + 0.5) / 0.5)
    assert plain["water"] == plain["zzqxv"] == pytest.approx(maximum)  # all unseen alike
    state = encoder_with().state
    avgdl = float(state["avgdl"][0])
    p = 1 - math.exp(-word_frequency("water", "en") * avgdl)
    df = 50 * p
    assert smoothed["water"] == pytest.approx(math.log1p((n + 50 - df + 0.5) / (df + 0.5)))
    assert smoothed["water"] < smoothed["zzqxv"]  # a common word is no longer maximal
    assert smoothed["zzqxv"] == pytest.approx(math.log1p((n + 50 + 0.5) / 0.5))
    # a seen word keeps its own count plus the prior's
    p_cell = 1 - math.exp(-word_frequency("cell", "en") * avgdl)
    df_cell = 3 + 50 * p_cell
    assert smoothed["cell"] == pytest.approx(math.log1p((n + 50 - df_cell + 0.5) / (df_cell + 0.5)))


def test_strength_zero_equals_no_prior():
    documents = ["water and cells", "a protein in water", "zzqxv kinase"]
    queries = ["water protein", "zzqxv"]
    off = encoder_with().bm25(queries, documents)
    zero = encoder_with(prior="wordfreq", prior_strength=0).bm25(queries, documents)
    on = encoder_with(prior="wordfreq", prior_strength=50).bm25(queries, documents)
    np.testing.assert_array_equal(off, zero)
    assert not np.allclose(off, on)


def test_prior_settings_are_in_the_cache_key(store):
    context = Context("ctx", "ctx", tuple(CONTEXT))
    for options in ({}, {"prior": "wordfreq"}, {"prior": "wordfreq", "prior_strength": "10"}):
        _, cached = context_state(store, HybridEncoder(**options), context)
        assert not cached
    assert store.db["context_cache"].count == 3
    _, cached = context_state(store, HybridEncoder(prior="wordfreq"), context)
    assert cached


@pytest.mark.parametrize(
    "options,message",
    [
        ({"prior_strength": "-1"}, "prior_strength for .hybrid. must be at least 0"),
        ({"prior": "zipf"}, "option prior for .hybrid. must be none or wordfreq"),
    ],
)
def test_bad_prior_options(options, message):
    with pytest.raises(ZestError, match=message):
        HybridEncoder(**options)
