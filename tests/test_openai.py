"""The OpenAI generator against llama-cpp-python's own OpenAI-compatible server on the real
Gemma 3 270M GGUF, and against a small loopback server for what a single local model cannot
show: requests in flight at once, 429/5xx retries, and a failure in the middle of a batch."""

import json
import re
import sys
import threading
import time
from http.server import ThreadingHTTPServer

import pytest
from click.testing import CliRunner
from conftest import SCIFACT_EXEMPLARS, clean_exit
from conftest import SHORT_REQUEST as REQUEST
from ollama_server import JSONHandler, openai_command, refusing_port, serving, small_templates

from zest_core import ZestError
from zest_core.cli import cli
from zest_core.corpus.store import Store
from zest_core.deps import install_hint
from zest_core.plugin.generation import Request
from zest_openai import OpenAIGenerator

KEY = "test-key"


@pytest.fixture(scope="module")
def base_url():
    with serving(openai_command(KEY), "/v1/models") as server:
        yield f"http://{server.address}/v1"


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


@pytest.mark.model
@pytest.mark.slow
def test_completion_and_chat_against_llama_cpp_server(base_url, key):
    gen = OpenAIGenerator(base_url=base_url)
    assert gen.model_id == "gemma3-270m"  # the only model the server lists
    first, again = gen.complete(REQUEST), gen.complete(REQUEST)
    assert first.text.strip() and first.prompt_tokens > 0 and 0 < first.completion_tokens <= 8
    assert again == first  # seeded
    assert (first.finish_reason == "length") == (first.completion_tokens == REQUEST.max_tokens)
    chat = OpenAIGenerator(base_url=base_url, mode="chat").complete(REQUEST)
    assert chat.prompt_tokens > first.prompt_tokens  # wrapped in a chat template
    assert gen.provenance()["base_url"] == base_url


@pytest.mark.model
@pytest.mark.slow
def test_bad_key_and_refused_connection(base_url, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "wrong")
    with pytest.raises(ZestError, match=r"rejected the API key \(401\): check OPENAI_API_KEY"):
        OpenAIGenerator("gemma3-270m", base_url=base_url).complete(REQUEST)
    sock, port = refusing_port()
    with sock, pytest.raises(ZestError, match="cannot connect to .* is the server running"):
        OpenAIGenerator("m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0).complete(
            REQUEST
        )


def test_openai_api_needs_a_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ZestError, match="set OPENAI_API_KEY"):
        OpenAIGenerator("gpt-4o-mini")
    with pytest.raises(ZestError, match="mode for 'openai' must be completion or chat"):
        OpenAIGenerator("m", base_url="http://127.0.0.1:1/v1", mode="json")


def test_missing_client_names_the_extra(monkeypatch, key):
    monkeypatch.setitem(sys.modules, "openai", None)  # as if not installed
    with pytest.raises(ZestError, match=re.escape(install_hint("openai"))):
        OpenAIGenerator("m", base_url="http://127.0.0.1:1/v1")


@pytest.mark.model
@pytest.mark.slow
def test_run_with_bad_key_then_resume(base_url, tmp_path, monkeypatch):
    """A run refused for its key fails with one message and resumes once the key is right;
    the key is never stored."""
    db = tmp_path / "zest.db"
    args = [
        "run",
        "--exemplars",
        SCIFACT_EXEMPLARS,
        "--k",
        2,
        "--generator",
        "openai",
        "--model",
        "gemma3-270m",
        "--base-url",
        base_url,
        "-o",
        "concurrency=2",
        "--templates",
        small_templates(tmp_path),
        "--anchors",
        1,
        "--docs",
        3,
        "--db",
        db,
    ]
    monkeypatch.setenv("OPENAI_API_KEY", "wrong")
    failed = CliRunner().invoke(cli, [str(a) for a in args])
    assert "rejected the API key (401)" in clean_exit(failed, 1)
    assert Store(db).version(1)["status"] == "failed"
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    done = CliRunner().invoke(cli, ["run", "--resume", "1", "--db", str(db)])
    assert done.exit_code == 0, done.output
    store = Store(db)
    version = store.version(1)
    assert version["status"] == "complete" and version["model"] == "gemma3-270m"
    assert version["provenance"]["options"]["concurrency"] == 2
    docs = store.documents(1)
    assert [d["ordinal"] for d in docs] == [0, 1, 2]
    assert all(d["token_count"] > 0 and d["prompt_tokens"] > 0 for d in docs)
    dump = json.dumps([version, docs, store.anchors(1)], default=str)
    assert KEY not in dump and "wrong" not in dump


class FlakyServer(ThreadingHTTPServer):
    """``/v1/completions`` that answers after ``delay`` s, first with ``failures`` errors of
    ``status``; a prompt ``bad`` gets a 400. With ``hold``, requests are answered in groups of
    ``hold`` in arrival order: each waits (``bad`` too) until its group has all arrived, or
    ``HOLD_TIMEOUT`` has passed (then ``held_out`` counts it), so overlap is an event the server
    waits for, not a race against ``delay``. Records the most requests it held at once."""

    HOLD_TIMEOUT = 10.0

    def __init__(self, delay=0.0, failures=0, status=429, hold=0):
        super().__init__(("127.0.0.1", 0), FlakyHandler)
        self.delay, self.failures, self.status, self.hold = delay, failures, status, hold
        self.lock = threading.Condition()
        self.active = self.peak = self.requests = self.held_out = 0

    def handle_error(self, request, client_address):
        """Quiet: a client that timed out has closed its end before the answer."""

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class FlakyHandler(JSONHandler):
    server: FlakyServer

    def do_GET(self):  # /v1/models: a server with two models
        self.reply(
            200,
            {
                "object": "list",
                "data": [
                    {"id": name, "object": "model", "created": 0, "owned_by": "me"}
                    for name in ("small", "large")
                ],
            },
        )

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        s = self.server
        with s.lock:
            group_end = (s.requests // s.hold + 1) * s.hold if s.hold else 0
            s.requests += 1
            fail = s.failures > 0
            s.failures -= fail
            s.active += 1
            s.peak = max(s.peak, s.active)
            s.lock.notify_all()
            if not s.lock.wait_for(lambda: s.requests >= group_end, timeout=s.HOLD_TIMEOUT):
                s.held_out += 1
        if body["prompt"] == "bad":  # at once, before the others' delay
            with s.lock:
                s.active -= 1
            return self.reply(400, {"error": {"message": "bad prompt"}})
        time.sleep(s.delay)
        with s.lock:
            s.active -= 1
        if fail:
            return self.reply(s.status, {"error": {"message": "busy"}}, {"retry-after-ms": "10"})
        self.reply(
            200,
            {
                "id": "x",
                "object": "text_completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "text": f" echo {body['prompt']}",
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
            },
        )


@pytest.fixture
def flaky(key):
    servers = []

    def start(**kwargs):
        server = FlakyServer(**kwargs)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def requests(*prompts):
    return [
        Request(key=i, prompt=p, max_tokens=4, temperature=0.5, seed=i)
        for i, p in enumerate(prompts)
    ]


def test_concurrency_keeps_requests_in_flight(flaky):
    # Answers only once three are in flight (two rounds of three), then 0.3 s later: a client
    # that sends a fourth shows in ``peak`` if it sends it within that time. The timing can only
    # hide a fault, never fail a correct client.
    server = flaky(hold=3, delay=0.3)
    gen = OpenAIGenerator("m", base_url=server.url, concurrency=3)
    results = list(gen.complete_many(requests(*"abcdef")))
    assert sorted(r.key for r, _ in results) == list(range(6))
    assert all(c.text == f" echo {r.prompt}" and c.completion_tokens == 2 for r, c in results)
    assert server.held_out == 0 and server.peak == 3  # three at once, never a fourth


@pytest.mark.parametrize("status", [429, 503])
def test_retries_with_backoff(flaky, status):
    server = flaky(failures=2, status=status)
    assert (
        OpenAIGenerator("m", base_url=server.url, max_retries=2).complete(requests("a")[0]).text
        == " echo a"
    )
    assert server.requests == 3
    server = flaky(failures=2, status=status)
    message = "still rate-limits after 1 retries" if status == 429 else "answered 503: busy"
    with pytest.raises(ZestError, match=message):
        OpenAIGenerator("m", base_url=server.url, max_retries=1).complete(requests("a")[0])


def test_failure_keeps_results_in_flight_and_sends_no_more(flaky):
    # the 400 comes once all three are in flight, the other two answers 0.5 s after it
    server = flaky(hold=3, delay=0.5)
    gen = OpenAIGenerator("m", base_url=server.url, concurrency=3, max_retries=0)
    got = []
    with pytest.raises(ZestError, match="answered 400: bad prompt"):
        for request, _ in gen.complete_many(requests("a", "bad", "c", "d", "e", "f")):
            got.append(request.key)
    assert sorted(got) == [0, 2]  # in flight with the bad one: stored, not lost
    assert server.requests == 3 and server.held_out == 0


def test_timeout_and_ambiguous_model(flaky):
    server = flaky(delay=1.0)
    with pytest.raises(ZestError, match="no answer from .* within 0.2 s"):
        OpenAIGenerator("m", base_url=server.url, timeout=0.2, max_retries=0).complete(
            requests("a")[0]
        )
    with pytest.raises(ZestError, match="give --model: the server at .* serves small, large"):
        OpenAIGenerator(base_url=server.url).model_id
