"""The batched llama.cpp decoder against sequential decoding, on the real gemma3-270m GGUF."""

import os
import sqlite3
import subprocess
import threading
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import SCIFACT_EXEMPLARS, fake_cli
from ollama_server import small_templates
from test_kill import count, kill_when

from zest_core.corpus.store import Store
from zest_core.errors import ZestError
from zest_core.plugin.generation import Request

llama_cpp = pytest.importorskip("llama_cpp")
from zest_core import default_gguf  # noqa: E402
from zest_llama_cpp import LlamaCppGenerator, native  # noqa: E402
from zest_llama_cpp.batched import WORKER_THREAD, BatchedDecoder, run_parallel  # noqa: E402

pytestmark = [pytest.mark.model, pytest.mark.slow]  # each test decodes on the real model

# Batched matrix products round differently from one-token ones, so greedy decoding may take
# the runner-up token where the top two logits are nearly tied. Measured on this model: every
# divergence from sequential greedy came at a top-2 logit gap of at most 0.13 (5 of 6 SciFact
# prompts met such a near-tie within 40 tokens); elsewhere the gap is far larger.
NEAR_TIE = 0.3
ANCHORS = [
    "Vitamin D and bone density in older women",
    "CRISPR screens in human T cells",
    "Gut microbiome composition and obesity",
    "Aspirin for secondary stroke prevention",
    "Sleep deprivation and memory consolidation",
]


@pytest.fixture(scope="module")
def llm():
    model = native.load(default_gguf(), n_ctx=1024, n_threads=1, n_threads_batch=1, verbose=False)
    yield model
    model.close()


@pytest.fixture(scope="module")
def decoder(llm):
    dec = BatchedDecoder(llm, n_parallel=3, n_ctx=1024)
    yield dec
    dec.close()


@pytest.fixture
def prompts(exemplars):
    """Document prompts as the pipeline writes them: a shared exemplar prefix, then an anchor."""
    head = "The following documents come from the same collection.\n\n" + "".join(
        f"Document {n}\nTitle: {e['title']}\nText: {' '.join(e['text'].split()[:40])}\n\n"
        for n, e in enumerate(exemplars[:3], 1)
    )
    return [f"{head}Document 4\nTitle: {anchor}\nText:" for anchor in ANCHORS]


def greedy(key, prompt, max_tokens, stop=()):
    return Request(
        key=key, prompt=prompt, max_tokens=max_tokens, temperature=0.0, seed=key, stop=stop
    )


def sequential_greedy(llm, prompt, max_tokens):
    """Greedy tokens of a one-sequence llama.cpp context, with the top-2 logit gap of each."""
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    llm.reset()
    llm.eval(llm.tokenize(prompt.encode(), add_bos=True, special=True))
    tokens, gaps = [], []
    for _ in range(max_tokens):
        logits = np.ctypeslib.as_array(
            llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),)
        )
        second, first = np.partition(logits, -2)[-2:]
        token = int(np.argmax(logits))
        if llama_cpp.llama_vocab_is_eog(vocab, token):
            break
        tokens.append(token)
        gaps.append(first - second)
        llm.eval([token])
    return tokens, gaps


def diverged_at(llm, request, completion) -> int | None:
    """Where ``completion`` (greedy) leaves sequential greedy decoding of the same prompt: None
    if nowhere; otherwise the step, which must be a near-tie for the sequential decoder."""
    tokens, gaps = sequential_greedy(llm, request.prompt, request.max_tokens)
    text = ""
    for step, token in enumerate(tokens):
        piece = llm.detokenize([token]).decode("utf-8", errors="ignore")
        if not completion.text.startswith(text + piece):
            assert gaps[step] < NEAR_TIE, (request.key, step, gaps[step], text, completion.text)
            return step
        text += piece
    assert completion.text == text and completion.completion_tokens == len(tokens)
    return None


def test_greedy_batched_text_is_sequential_text_up_to_a_near_tie(llm, decoder, prompts):
    done = dict(decoder.run(greedy(k, p, 32) for k, p in enumerate(prompts)))
    assert sorted(r.key for r in done) == list(range(len(prompts)))
    steps = [diverged_at(llm, request, completion) for request, completion in done.items()]
    diverged = sorted(step for step in steps if step is not None)
    print(f"batched vs sequential greedy: {len(diverged)} of {len(done)} diverged, at {diverged}")


def test_a_document_shares_the_anchor_cells_of_a_running_sibling(llm, prompts):
    # 0 and 2 have one prompt (one anchor); 2 starts when 1 ends, while 0 is still running.
    plan = [
        greedy(0, prompts[0], 24),
        greedy(1, prompts[1], 4),
        greedy(2, prompts[0], 12),
        greedy(3, prompts[1], 4),
    ]
    dec = BatchedDecoder(llm, n_parallel=2, n_ctx=1024)
    try:
        done = dict(dec.run(plan))
    finally:
        dec.close()
    tokens = [dec._tokenize(request) for request in plan]
    shared = len(os.path.commonprefix(tokens[:2]))  # the prefix evaluated once, in sequence 0
    # 2 takes all of 0's prompt but its last token (evaluated for its logits); 3 finds no
    # running sibling (1 has ended) and evaluates its anchor itself.
    assert dec.timings.reused_tokens == len(tokens[2]) - 1 - shared
    assert dec.timings.prompt_tokens == sum(len(t) - shared for t in tokens) - (
        dec.timings.reused_tokens
    )
    assert done[plan[2]].completion_tokens == 12
    for request in plan[::2]:  # the borrowed cells give the text sequential decoding gives
        diverged_at(llm, request, done[request])


def test_a_sibling_past_its_sliding_window_lends_no_cells(llm):
    """llama.cpp may overwrite a cell that the one sequence holding it no longer attends to, so
    a sibling that has moved on to the next ``n_swa`` block of positions lends nothing."""
    dec = BatchedDecoder(llm, n_parallel=2, n_ctx=1024)
    try:
        assert dec.n_swa == 512  # Gemma 3's local layers
        tokens, shared = list(range(100, 140)), 20

        def sibling(pos):
            return SimpleNamespace(prompt_tokens=tokens, pos=pos)

        near, far = sibling(dec.n_swa - 1), sibling(dec.n_swa)  # far: 492 tokens on
        assert dec._donor(tokens, shared, [far]) == (None, shared)
        assert dec._donor(tokens, shared, [far, near]) == (near, len(tokens) - 1)
        # a sibling started in the same step lends only the cells it already holds
        assert dec._donor(tokens, shared, [sibling(30)]) == (sibling(30), 30)
    finally:
        dec.close()


def test_stop_sequences_end_each_sequence_where_sequential_decoding_ends_it(llm, decoder):
    # Continuations the model is sure of (top-2 gaps far above NEAR_TIE), so the texts must match.
    cases = [
        ("1, 2, 3, 4, 5, 6,", ("8, 9",)),  # a stop spanning several tokens
        ("Monday, Tuesday, Wednesday,", ("Sat", "Friday")),  # the first to appear wins
        ("January, February, March,", (" June",)),
        ("a b c d e f g", ()),
    ]  # no stop: runs to max_tokens
    requests = [greedy(k, prompt, 12, stop) for k, (prompt, stop) in enumerate(cases)]
    done = dict(decoder.run(requests))
    for request in requests:
        out = llm.create_completion(
            request.prompt, max_tokens=12, temperature=0.0, stop=list(request.stop)
        )
        got = done[request]
        assert got.text == out["choices"][0]["text"]
        assert got.finish_reason == out["choices"][0]["finish_reason"]
        assert got.completion_tokens == out["usage"]["completion_tokens"]
        assert got.finish_reason == ("stop" if request.stop else "length")
        assert not any(stop in got.text for stop in request.stop)


def test_finished_slots_are_refilled_from_a_lazy_iterator(llm, prompts):
    pulled, finished = [], []
    lengths = [24, 4, 4, 4, 4, 4]

    def plan():
        for key, n in enumerate(lengths):
            pulled.append(key)
            yield greedy(key, prompts[key % len(prompts)], n)

    dec = BatchedDecoder(llm, n_parallel=2, n_ctx=1024)
    try:
        for request, completion in dec.run(plan()):
            assert completion.completion_tokens == request.max_tokens
            finished.append((request.key, len(pulled)))
    finally:
        dec.close()
    keys = [key for key, _ in finished]
    assert sorted(keys) == list(range(len(lengths)))
    assert keys == [1, 2, 3, 4, 5, 0]  # the long first one ran while five short ones came and went
    assert all(n_pulled <= position + 3 for position, (_, n_pulled) in enumerate(finished))
    # two sequences at a time: far fewer decode calls than tokens
    assert dec.timings.steps < 0.7 * sum(lengths)
    assert dec.timings.generated_tokens == sum(lengths)


def test_a_failing_request_loses_none_of_the_finished_documents(llm, prompts):
    dec = BatchedDecoder(llm, n_parallel=2, n_ctx=512)
    requests = [
        greedy(0, prompts[0], 4),
        greedy(1, prompts[1], 16),
        greedy(2, "word " * 600, 4),
        greedy(3, prompts[2], 4),
    ]
    got = []
    try:
        with pytest.raises(ZestError, match="request 2: prompt of .* tokens does not fit"):
            for request, completion in dec.run(requests):
                got.append((request.key, completion.completion_tokens))
    finally:
        dec.close()
    # 1 was still running when 2 failed: it is finished and handed over before the error
    assert got == [(0, 4), (1, 16)]


def workers() -> list[threading.Thread]:
    """run_parallel's worker threads that are still running."""
    return [t for t in threading.enumerate() if t.name.startswith(WORKER_THREAD)]


def test_workers_split_the_plan_by_position_and_share_a_failure(llm, prompts):
    decoders = [BatchedDecoder(llm, n_parallel=2, n_ctx=512) for _ in range(2)]
    try:
        plan = [greedy(k, prompts[k % len(prompts)], 6) for k in range(6)]
        together = dict(run_parallel(decoders, plan))
        # request i goes to worker i % 2, so each worker decodes what it would decode alone
        alone = dict(decoders[0].run(plan[0::2])) | dict(decoders[1].run(plan[1::2]))
        assert together == alone and len(together) == len(plan)
        # a consumer that stops early halts the workers before the contexts can be freed
        long = [greedy(k, prompts[0], 2 if k == 0 else 500) for k in range(4)]
        running = run_parallel(decoders, long)
        assert next(running)[0].key == 0
        assert len(workers()) == 2 and all(t.is_alive() for t in workers())
        running.close()
        assert workers() == []
        # request 2 (worker 0) fails: worker 0 finishes 0, worker 1 finishes 1 and 3
        plan[2] = greedy(2, "word " * 600, 6)
        got = {}
        with pytest.raises(ZestError, match="request 2"):
            for request, completion in run_parallel(decoders, plan):
                got[request.key] = completion
        assert {0, 1, 3} <= set(got) <= {0, 1, 3, 5}
        assert got[0].completion_tokens == 6
        assert all(got[k] == alone[plan[k]] for k in got if k % 2)
    finally:
        for decoder in decoders:
            decoder.close()


def test_generator_batches_by_default_and_records_the_batch_size(capsys):
    batched = LlamaCppGenerator(n_ctx=1024, vocab="full")
    try:
        defaults = LlamaCppGenerator.check_options({})  # the declared defaults
        assert len(batched.decoders) == defaults["workers"]
        assert batched.provenance()["batch_size"] == defaults["batch_size"] > 1
        assert batched.provenance()["workers"] == defaults["workers"]
        out = dict(
            batched.complete_many(greedy(k, f"Title: {a}\nText:", 6) for k, a in enumerate(ANCHORS))
        )
        assert [c.completion_tokens for c in out.values()] == [6] * len(ANCHORS)
    finally:
        batched.close()
    single = LlamaCppGenerator(n_ctx=1024, batch_size=1, vocab="full")
    single.close()
    assert not single.decoders and single.provenance()["batch_size"] == 1
    assert "one document at a time" not in capsys.readouterr().err
    chat = LlamaCppGenerator(n_ctx=1024, mode="chat", vocab="full")
    chat.close()
    assert not chat.decoders and chat.provenance()["batch_size"] == 1
    notices = [line for line in capsys.readouterr().err.splitlines() if "llama-cpp:" in line]
    assert len(notices) == 1 and notices[0].endswith("decoding one document at a time")


def test_batched_zest_run_killed_mid_batch_then_resumed(tmp_path, short_templates):
    """SIGKILL while documents are in flight: resuming loses and duplicates none."""
    db, n_docs = tmp_path / "batched.db", 10
    run = [
        "run",
        "--exemplars",
        SCIFACT_EXEMPLARS,
        "--anchors",
        2,
        "--docs",
        n_docs,
        "--seed",
        3,
        "--templates",
        short_templates,
        "-o",
        "batch_size=3",
        "--db",
        db,
    ]
    documents = "SELECT count(*) FROM documents"
    assert kill_when(run, lambda: count(db, documents) >= 2, timeout=300) == -9
    killed_with = count(db, documents)
    assert 2 <= killed_with < n_docs
    done = subprocess.run(
        fake_cli("run", "--resume", 1, "--db", db), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    store = Store(db)
    version = store.version(1)
    assert version["status"] == "complete"
    assert version["provenance"]["batch_size"] == 3
    assert version["provenance"]["workers"] == 2
    docs = store.documents(1)
    assert [d["ordinal"] for d in docs] == list(range(n_docs))
    assert all(0 < d["token_count"] <= 40 and d["text"] for d in docs)


class Crash(Exception):
    """Raised after some documents are stored: a run that dies half-way."""


def test_batched_resume_keeps_what_was_stored_and_is_deterministic(tmp_path, exemplars):
    """What resuming the batched default guarantees, on the real model.

    A resumed run regenerates the missing ordinals with the seeds they would have had, but in
    other batches than an uninterrupted run. The decoder evaluates the common prefix of its
    first batch once (with one anchor in it the whole prompt, with two only the exemplars), and
    tokens evaluated there or in a slot's batch round differently; at temperature 0.8 that
    flips a sampled token within a few tokens (measured: 0 of 5 regenerated documents equal
    here; one request came out the same alone or beside a same-anchor request, and different
    beside another anchor's). So a regenerated text is NOT the uninterrupted run's. What holds,
    and is checked: the anchors and the documents stored before the crash are the uninterrupted
    run's and are kept; every ordinal is there once with the uninterrupted run's seed; and
    resuming the same stored state twice gives the same texts."""
    from zest_core.corpus import pipeline

    args = dict(
        exemplars=exemplars[:2],
        corpus="sci",
        templates=str(small_templates(tmp_path)),
        n_anchors=2,
        n_docs=8,
        seed=5,
        options={"batch_size": 2},
    )
    whole_store = Store(tmp_path / "whole.db")
    whole = whole_store.documents(pipeline.start(whole_store, **args))
    store = Store(tmp_path / "crashed.db")
    stored = []

    def crash_after_three(doc):
        stored.append(doc)
        if len(stored) == 3:
            raise Crash

    with pytest.raises(Crash):
        pipeline.start(store, **args, on_document=crash_after_three)
    before = store.documents(1)
    assert store.version(1)["status"] == "failed" and len(before) == 3
    with (
        sqlite3.connect(tmp_path / "crashed.db") as src,
        sqlite3.connect(tmp_path / "copy.db") as dst,
    ):
        src.backup(dst)  # the same stored state, twice
    resumed = []
    for db in ("crashed.db", "copy.db"):
        again = Store(tmp_path / db)
        pipeline.resume(again, 1)
        assert again.version(1)["status"] == "complete"
        assert [a["text"] for a in again.anchors(1)] == [a["text"] for a in whole_store.anchors(1)]
        resumed.append(again.documents(1))
    docs = resumed[0]
    assert [d["ordinal"] for d in docs] == list(range(8))
    assert [d["seed"] for d in docs] == [d["seed"] for d in whole]
    kept = {d["ordinal"]: d["text"] for d in before}
    assert {d["ordinal"]: d["text"] for d in docs if d["ordinal"] in kept} == kept
    assert kept == {d["ordinal"]: d["text"] for d in whole if d["ordinal"] in kept}
    assert [d["text"] for d in resumed[1]] == [d["text"] for d in docs]
    same = sum(a["text"] == b["text"] for a, b in zip(docs, whole) if a["ordinal"] not in kept)
    print(f"regenerated documents equal to the uninterrupted run's: {same} of {8 - len(kept)}")
