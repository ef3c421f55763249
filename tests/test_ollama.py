"""The Ollama generator against a real loopback server that speaks Ollama's HTTP API over the
real Gemma 3 270M GGUF (``tests/ollama_server.py``; no Ollama binary exists here)."""

import re
import sqlite3
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner
from conftest import SCIFACT_EXEMPLARS, clean_exit, fake_cli
from conftest import SHORT_REQUEST as REQUEST
from ollama_server import EMPTY_STREAM, ollama_command, refusing_port, serving, small_templates

from zest_core import ZestError
from zest_core.cli import cli
from zest_core.corpus.store import Store
from zest_core.deps import install_hint
from zest_core.plugin.generation import Request
from zest_ollama import OllamaGenerator

pytestmark = [pytest.mark.model, pytest.mark.slow]  # a server on the real model per module


TAGS = "/api/tags"


@pytest.fixture(scope="module")
def host():
    with serving(ollama_command, TAGS) as server:
        yield server.address


@pytest.mark.parametrize("mode", ["completion", "chat"])
def test_streamed_and_whole_answers_agree(host, mode):
    whole = OllamaGenerator(host=host, mode=mode).complete(REQUEST)
    assert whole.text.strip() and whole.prompt_tokens > 0 and 0 < whole.completion_tokens <= 8
    assert (whole.finish_reason == "length") == (whole.completion_tokens == REQUEST.max_tokens)
    assert OllamaGenerator(host=host, mode=mode, stream=True).complete(REQUEST) == whole


def test_raw_completion_for_base_models_chat_through_the_template(host, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", host)
    raw = OllamaGenerator().complete(REQUEST)  # the host from $OLLAMA_HOST
    chat = OllamaGenerator(mode="chat").complete(REQUEST)
    assert chat.prompt_tokens > raw.prompt_tokens


def test_missing_model_and_unreachable_host(host):
    with pytest.raises(
        ZestError, match="has no model 'llama3:8b': pull it first with: ollama pull llama3:8b"
    ):
        OllamaGenerator("llama3:8b", host=host).complete(REQUEST)
    sock, port = refusing_port()
    with sock, pytest.raises(ZestError, match="cannot reach Ollama at .*OLLAMA_HOST"):
        OllamaGenerator(host=f"127.0.0.1:{port}").complete(REQUEST)
    with pytest.raises(ZestError, match="option mode for 'ollama' must be completion or chat"):
        OllamaGenerator(host=host, mode="raw")


@pytest.mark.parametrize("stream", [False, True])
def test_server_error_is_reported_with_its_message(host, stream):
    too_long = Request(key=0, prompt="word " * 3000, max_tokens=4, temperature=0.5, seed=0)
    with pytest.raises(ZestError, match=r"Ollama at .* failed: .*context.* \(HTTP 500\)"):
        OllamaGenerator(host=host, stream=stream).complete(too_long)


@pytest.mark.parametrize("mode", ["completion", "chat"])
def test_a_stream_that_ends_before_its_first_line_is_one_clear_error(host, mode):
    gen = OllamaGenerator(EMPTY_STREAM, host=host, mode=mode, stream=True)
    with pytest.raises(ZestError, match="ended the answer before sending anything"):
        gen.complete(REQUEST)


def run_missing_model(tmp_path, *host_args):
    """``zest run`` with Ollama model 'nope', the host given by ``host_args``."""
    args = ("run", "--exemplars", SCIFACT_EXEMPLARS, "--generator", "ollama", "--model", "nope")
    args += (*host_args, "--docs", 1, "--anchors", 1, "--db", tmp_path / "z.db")
    return CliRunner().invoke(cli, list(map(str, args)))


def test_host_is_a_plain_option_and_the_flag_sets_it(host, tmp_path):
    assert OllamaGenerator(host=host).provenance()["host"] == host
    result = run_missing_model(tmp_path, "-o", f"host={host}")
    assert result.exit_code == 1 and f"Ollama at {host} has no model 'nope'" in result.output


def test_missing_client_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ollama", None)  # as if not installed
    with pytest.raises(ZestError, match=re.escape(install_hint("ollama"))):
        OllamaGenerator()


def test_cli_reports_a_model_that_is_not_pulled(host, tmp_path):
    assert "ollama pull nope" in clean_exit(run_missing_model(tmp_path, "--host", host), 1)


def documents(db) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM documents").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_server_dies_mid_run_then_resume(tmp_path):
    """The server is killed after two documents: the run fails with one message, the version
    keeps what it had, and resuming against a restarted server completes the plan exactly."""
    db, n_docs = tmp_path / "zest.db", 5
    with serving(ollama_command, TAGS) as server:
        host, port = server.address, server.port
        run = subprocess.Popen(
            fake_cli(
                "run",
                "--exemplars",
                SCIFACT_EXEMPLARS,
                "--k",
                "2",
                "--generator",
                "ollama",
                "--host",
                host,
                "--templates",
                small_templates(tmp_path),
                "--anchors",
                "1",
                "--docs",
                str(n_docs),
                "--seed",
                "3",
                "--db",
                db,
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 300
        while documents(db) < 2:
            assert run.poll() is None, run.stdout.read()
            assert time.monotonic() < deadline
            time.sleep(0.01)
        server.proc.kill()
        output, _ = run.communicate(timeout=60)
    assert run.returncode == 1 and "Traceback" not in output
    assert f"Ollama at {host}" in output
    store = Store(db)
    assert store.version(1)["status"] == "failed"
    before = store.documents(1)
    assert 2 <= len(before) < n_docs
    with serving(ollama_command, TAGS, port=port):  # the same port: the version stores the host
        done = CliRunner().invoke(cli, ["run", "--resume", "1", "--db", str(db)])
    assert done.exit_code == 0, done.output
    version = store.version(1)
    assert version["status"] == "complete" and version["generator"] == "ollama"
    assert version["model"] == "gemma3:270m" and version["provenance"]["host"] == host
    docs = store.documents(1)
    assert [d["ordinal"] for d in docs] == list(range(n_docs))
    assert [d["text"] for d in docs if d["id"] in {b["id"] for b in before}] == [
        b["text"] for b in before
    ]
    assert all(d["token_count"] > 0 and d["prompt_tokens"] > 0 for d in docs)
