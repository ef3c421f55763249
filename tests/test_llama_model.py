"""The real gemma3-270m GGUF through llama.cpp: the default `zest run`, with the network shut."""

import json
import subprocess
import sys

import pytest
from conftest import SCIFACT_EXEMPLARS, TESTS

from zest_core.corpus.store import Store
from zest_core.text import jaccard

pytestmark = pytest.mark.model
GUARD = TESTS / "network_guard.py"


def test_network_guard_records_and_refuses(tmp_path):
    record = tmp_path / "attempts.json"
    subprocess.run([sys.executable, GUARD, record, "--probe"], check=True, timeout=60)
    assert json.loads(record.read_text()) == ["('192.0.2.1', 80)", "lookup example.invalid"]


@pytest.mark.slow
def test_default_run_is_offline_and_stores_a_real_corpus(tmp_path, short_templates):
    db, record = tmp_path / "real.db", tmp_path / "attempts.json"
    done = subprocess.run(
        [
            sys.executable,
            GUARD,
            record,
            "run",
            "--exemplars",
            SCIFACT_EXEMPLARS,
            "--anchors",
            "3",
            "--docs",
            "6",
            "--seed",
            "5",
            "--templates",
            short_templates,
            "--db",
            db,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(record.read_text()) == []  # not one connection or lookup was tried
    store = Store(db)
    version = store.version(1)
    assert version["status"] == "complete"
    anchors = [a["text"] for a in store.anchors(1)]
    assert len(anchors) == 3
    assert all(jaccard(a, b) <= 0.5 for i, a in enumerate(anchors) for b in anchors[i + 1 :])
    docs = store.documents(1)
    assert len(docs) == 6 and all(len(d["text"].split()) >= 5 for d in docs)
    assert all(0 < d["token_count"] <= 40 and d["prompt_tokens"] > 100 for d in docs)
    assert version["model"] == "gemma-3-270m-q4_k_m.gguf"
    assert version["provenance"]["path"].endswith(".gguf")
    assert store.totals(1)["completion_tokens"] >= sum(d["token_count"] for d in docs)


@pytest.mark.slow
def test_generator_honours_seed_stop_and_max_tokens():
    from zest_core.plugin.generation import Request
    from zest_llama_cpp import LlamaCppGenerator

    gen = LlamaCppGenerator()
    try:
        prompt = "Title: Insulin signalling in the liver\nText:"

        def ask(seed, **kw):
            settings = {"max_tokens": 12, "temperature": 1.0, **kw}
            return gen.complete(Request(key=0, prompt=prompt, seed=seed, **settings))

        a, b = ask(1), ask(1)
        assert a.text == b.text and a.completion_tokens <= 12
        assert {ask(s).text for s in (2, 3, 4)} != {a.text}
        stopped = ask(1, stop=(" ",), max_tokens=30)
        assert " " not in stopped.text.strip() and stopped.finish_reason == "stop"
        assert a.prompt_tokens == stopped.prompt_tokens > 5
    finally:
        gen.close()


def test_provenance_records_the_batching_that_ran_not_the_one_asked_for():
    """Chat prompts cannot be batched: the generator falls back to one document at a time,
    and the provenance (options included) says 1, and why."""
    from zest_llama_cpp import LlamaCppGenerator

    gen = LlamaCppGenerator(mode="chat", batch_size=8, workers=2, vocab="full")
    try:
        assert gen.decoders == []
        recorded = gen.provenance()
        assert recorded["options"]["batch_size"] == recorded["batch_size"] == 1
        assert recorded["options"]["workers"] == recorded["workers"] == 1
        assert "chat template" in recorded["batching_fallback"]
        assert recorded["options"]["mode"] == "chat" and recorded["chat"]
    finally:
        gen.close()
