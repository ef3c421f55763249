"""The n-gram loop check and the sentence stop (``end_after``): unit behaviour, and the real
model stopped inside both decode loops."""

import dataclasses
import json

import pytest
from conftest import SCIFACT_EXEMPLARS, beir

from zest_core.plugin.loops import LoopCheck, last_sentence_end, loop_cut, starts_sentence


def feed(check: LoopCheck, items) -> int | None:
    """How many items were added when the check fired (None: never)."""
    for count, item in enumerate(items, 1):
        if check.add(item):
            return count
    return None


def test_exact_loop_stops_after_ngram_plus_two_periods_and_cuts_after_one_copy():
    intro = list(range(100, 130))
    cycle = list(range(10))
    check = LoopCheck(ngram=4, repeats=3)
    fired = feed(check, intro + cycle * 20)
    # the 4-gram at the cycle start is back for the third time 2 periods later
    assert fired == len(intro) + 4 + 2 * len(cycle)
    assert check.cut == len(intro) + len(cycle)  # intro plus one whole copy kept
    assert check.add(0) is True  # stays fired


def test_single_token_run_and_text_without_a_loop():
    check = LoopCheck()
    assert feed(check, ["x"] * 40) == 22
    assert check.cut == 1
    assert feed(LoopCheck(), list(range(5000))) is None


def test_recurring_phrase_must_come_back_whole_repeats_times():
    phrase = ["in", "patients", "with", "type", "2", "diabetes"]
    twice = ["a", "b"] + phrase + ["c", "d", "e"] + phrase + ["f"] * 3 + ["g", "h"]
    assert feed(LoopCheck(ngram=6, repeats=3), twice) is None
    check = LoopCheck(ngram=6, repeats=3)
    thrice = twice + phrase + ["end"]
    assert feed(check, thrice) == len(twice) + len(phrase)
    assert check.cut == twice.index("c") + 3  # the second occurrence of the phrase


def test_loop_cut_on_words_keeps_text_before_the_repetition():
    text = "Background matters here. " + "The cells were stained and counted. " * 5
    cut = loop_cut(text, ngram=4)
    assert text[:cut] == "Background matters here. The cells were stained and counted. "
    assert loop_cut("One two three four five six seven eight nine ten.", ngram=4) is None


def test_a_cut_text_ends_at_its_last_full_sentence():
    assert (
        last_sentence_end('Cells grew. Mice (n = 4) died." The cells were')
        == 'Cells grew. Mice (n = 4) died."'
    )
    assert last_sentence_end("no sentence end here") == "no sentence end here"
    assert last_sentence_end("Version 2.1 of the tool") == "Version 2.1 of the tool"


@pytest.mark.parametrize(
    "before,piece,starts",
    [
        (b"The mice died.", b" The", True),
        (b'He said "no."', b"\n", True),
        (b"(see Table 2.)", b" Cells", True),
        (b"The rate was 3.", b"5", False),  # a decimal: no white space after the stop
        (b"The rate was 3.", b"%", False),
        (b"The mice died", b" and", False),
        (b"", b" The", False),
    ],
)
def test_a_new_sentence_starts_at_white_space_after_a_stop(before, piece, starts):
    assert starts_sentence(before, piece) is starts


@pytest.mark.parametrize("ngram,repeats", [(0, 3), (4, 1)])
def test_bad_settings(ngram, repeats):
    with pytest.raises(ValueError):
        LoopCheck(ngram, repeats)


def test_real_abstracts_never_loop_at_the_default_settings():
    """The defaults leave real writing alone: no SciFact abstract trips the word-level check."""
    path = beir("scifact") / "corpus.jsonl"
    texts = [json.loads(line)["text"] for line in path.read_text().splitlines()]
    assert [t[:60] for t in texts if loop_cut(t) is not None] == []


# the real model ------------------------------------------------------------------------
LOOP_PROMPT = "Repeat after me.\n" + "I like apples and pears. " * 12


@pytest.fixture(scope="module")
def gemma():
    from zest_llama_cpp import LlamaCppGenerator

    return LlamaCppGenerator


def _request(max_tokens=200):
    from zest_core.plugin.generation import Request

    return Request(key=0, prompt=LOOP_PROMPT, max_tokens=max_tokens, temperature=0.0, seed=1)


@pytest.mark.model
@pytest.mark.parametrize("batch_size", [1, 4], ids=["sequential", "batched"])
def test_real_model_forced_loop_stops_early_with_reason_loop(gemma, batch_size):
    # end_after off: the 200-token free run must show the loop, not end at a sentence
    gen = gemma(batch_size=batch_size, workers=1, loop_ngram=0, end_after=0)
    try:
        [(_, free)] = list(gen.complete_many([_request()]))
    finally:
        gen.close()
    assert free.finish_reason == "length" and free.completion_tokens == 200  # it does loop
    gen = gemma(batch_size=batch_size, workers=1, loop_ngram=20, end_after=0)
    try:
        [(_, watched)] = list(gen.complete_many([_request()]))
        [(_, prose)] = list(gen.complete_many([_prose_request()]))
    finally:
        gen.close()
    assert watched.finish_reason == "loop"
    assert watched.completion_tokens < 60
    assert free.text.startswith(watched.text) and len(watched.text) < len(free.text) / 3
    assert watched.text.count("apples") <= 2
    assert prose.finish_reason != "loop"


def _prose_request():
    from zest_core.plugin.generation import Request

    prompt = "Title: Vitamin D and bone density in older adults\nText:"
    return Request(key=1, prompt=prompt, max_tokens=120, temperature=0.8, seed=3, stop=("\n\n",))


@pytest.mark.model
@pytest.mark.parametrize("batch_size", [1, 4], ids=["sequential", "batched"])
def test_real_model_end_after_stops_at_the_next_sentence_end(gemma, batch_size):
    """The same seeded text, cut at the first sentence end past ``end_after`` tokens."""
    from zest_core.corpus.exemplars import read_exemplars
    from zest_core.plugin import manager as plugins

    strategy = plugins.get_anchor_strategy("hierarchical")()
    exemplars = read_exemplars([str(SCIFACT_EXEMPLARS)])
    request = strategy.document_request(exemplars, "Vitamin D and bone density", 0, seed=5)
    request = dataclasses.replace(request, max_tokens=120)  # an abstract: it runs that far
    runs = {}
    for end_after in (0, 24):
        gen = gemma(batch_size=batch_size, workers=1, loop_ngram=0, end_after=end_after)
        try:
            [(_, runs[end_after])] = list(gen.complete_many([request]))
        finally:
            gen.close()
    free, ended = runs[0], runs[24]
    assert free.completion_tokens > ended.completion_tokens  # it would have run on
    assert ended.finish_reason == "sentence"
    assert ended.completion_tokens >= 24
    assert free.text.startswith(ended.text) and ended.text.rstrip()[-1] in ".!?\"')]"
    # ...at the first sentence end it came to once 24 tokens were written, not a later one
    later = free.text[len(ended.text) :]
    assert later[:1].isspace() and len(later.strip()) > 0
