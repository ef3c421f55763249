"""The English word list shipped for trimmed vocabularies (``zest_llama_cpp/english.py``):
what wordfreq gives, so that ``vocab=auto`` decides and trims as with wordfreq installed; and
without it, ``vocab=auto`` runs the full model and says why."""

import gzip

import pytest
from conftest import ROOT, SCIFACT_EXEMPLARS
from test_resolved import GERMAN, SPANISH

from zest_core import ZestError, default_gguf
from zest_core.corpus.exemplars import read_exemplars
from zest_llama_cpp import auto_vocab, english, trim

CORPORA = sorted(p for p in (ROOT / "corpora").iterdir() if p.is_dir())


def words_of(exemplars: list[dict]) -> set[str]:
    return {
        w
        for text in trim.exemplar_texts(exemplars)
        for w in trim.WORD.findall(text.lower())
        if w.isalpha()
    }


def test_the_shipped_list_is_wordfreq_s_most_frequent_english_words():
    words = english.top_words(trim.ENGLISH_WORDS)
    assert len(words) == trim.ENGLISH_WORDS == len({w for w, _ in words})
    frequencies = [f for _, f in words]
    assert frequencies == sorted(frequencies, reverse=True) and frequencies[-1] > 0
    assert [w for w, _ in words[:3]] == ["the", "to", "and"]
    assert english.source().startswith("wordfreq ")
    assert 1.5 < english.floor() < trim.ENGLISH_ZIPF  # the auto threshold is exact
    with pytest.raises(ZestError, match="holds 100,000 words"):
        english.top_words(trim.ENGLISH_WORDS + 1)


def test_the_shipped_list_equals_what_wordfreq_gives():
    wordfreq = pytest.importorskip("wordfreq")
    source, words = english.from_wordfreq(trim.ENGLISH_WORDS)
    assert (source, words) == (english.source(), english.top_words(trim.ENGLISH_WORDS)), (
        "the shipped list differs from the installed wordfreq: python benchmarks/english_words.py"
    )
    assert gzip.decompress(english.render(source, words)) == gzip.decompress(
        open(english.path(), "rb").read()
    )
    # Zipf lookups: the exemplar sets' words and other languages', as vocab=auto reads them
    texts = [e for corpus in CORPORA for e in read_exemplars([str(corpus)])] + GERMAN + SPANISH
    for word in sorted(words_of(texts)):
        expected = wordfreq.zipf_frequency(word, "en")
        if expected > english.floor():
            assert english.zipf(word) == expected, word
        else:
            assert english.zipf(word) in (0.0, expected), word
    for exemplars in [read_exemplars([str(c)]) for c in CORPORA] + [GERMAN, SPANISH]:
        texts = trim.exemplar_texts(exemplars)
        assert trim.english_share(texts) == trim.english_share(
            texts, lookup=lambda w: wordfreq.zipf_frequency(w, "en")
        )


@pytest.mark.slow
def test_the_trimmed_vocabulary_is_the_one_wordfreq_gives(monkeypatch):
    pytest.importorskip("wordfreq")
    vocab, tokenize = trim.read_vocab(default_gguf())
    texts = trim.exemplar_texts(read_exemplars([str(SCIFACT_EXEMPLARS)]))
    shipped = trim.kept_ids(vocab, tokenize, texts, sample=trim.english_sample())
    _, words = english.from_wordfreq(trim.ENGLISH_WORDS)
    monkeypatch.setattr(english, "top_words", lambda n: words[:n])
    assert trim.kept_ids(vocab, tokenize, texts, sample=trim.english_sample()) == shipped
    assert len(shipped) == trim.DEFAULT_SIZE


def test_without_the_list_auto_runs_the_full_model_and_says_why(monkeypatch):
    exemplars = read_exemplars([str(SCIFACT_EXEMPLARS)])
    assert auto_vocab(exemplars)[0] == "trimmed"
    monkeypatch.setattr(english, "FILE", "no-such-list.tsv.gz")
    english._table.cache_clear()
    try:
        vocab, why = auto_vocab(exemplars)
        assert vocab == "full"
        assert "no-such-list.tsv.gz is missing or unreadable" in why, why
        assert "reinstall zest-core" in why and "\n" not in why
        with pytest.raises(ZestError, match="reinstall zest-core"):
            trim.english_sample()  # vocab=trimmed, asked for: an error, not a silent full
    finally:
        monkeypatch.undo()
        english._table.cache_clear()
