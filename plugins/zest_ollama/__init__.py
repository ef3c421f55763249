"""Ollama generator: a model served by Ollama, through the official ``ollama`` client
(``pip install 'zest-core[ollama]'``).

The server is ``-o host=ADDRESS``, else ``$OLLAMA_HOST``, else Ollama's default
(127.0.0.1:11434); the model is an Ollama name (``gemma3:270m``). ``mode=completion`` sends
raw prompts (no template), which base models need; ``mode=chat`` goes through the model's chat
template, for instruct models. Before the first request the server's model list is checked, so
a model that is not pulled is reported with the ``ollama pull`` command that fixes it.
"""

import os

from zest_core import (
    TOP_K,
    TOP_P,
    Completion,
    Generator,
    Option,
    Request,
    ZestError,
    hookimpl,
    require,
)

DEFAULT_MODEL = "gemma3:270m"


@hookimpl
def register_generators(register):
    register(OllamaGenerator)


class OllamaGenerator(Generator):
    name = "ollama"
    options = {
        "host": Option(
            "",
            str,
            "Ollama server address, e.g. 127.0.0.1:11434 or"
            " http://gpu-box:11434 (empty: $OLLAMA_HOST, else 127.0.0.1:11434).",
        ),
        "mode": Option(
            "completion",
            str,
            "completion sends raw prompts without a template"
            " (base models); chat goes through the model's chat template"
            " (instruct models).",
            choices=("completion", "chat"),
        ),
        "stream": Option(
            False,
            bool,
            "Receive each completion in pieces as Ollama writes it instead of in one answer.",
        ),
        "timeout": Option(
            600.0, float, "Seconds to wait for the server before giving up on a request.", min=0.001
        ),
        "num_ctx": Option(
            4096, int, "Context window Ollama loads the model with, in tokens.", min=64
        ),
        "top_p": TOP_P,
        "top_k": TOP_K,
    }

    def __init__(self, model: str | None = None, **options):
        super().__init__(model, **options)
        ollama = require("ollama", extra="ollama", by="the ollama generator")
        self._ollama = ollama
        self.host = self.options["host"] or os.environ.get("OLLAMA_HOST") or "127.0.0.1:11434"
        self.client = ollama.Client(host=self.host, timeout=self.options["timeout"])
        self._checked = False

    @property
    def model_id(self) -> str:
        return self.model or DEFAULT_MODEL

    def complete(self, request: Request) -> Completion:
        if not self._checked:
            self._check_model()
        options = {
            "temperature": request.temperature,
            "seed": request.seed,
            "num_predict": request.max_tokens,
            "stop": list(request.stop),
            "num_ctx": self.options["num_ctx"],
            "top_p": self.options["top_p"],
            "top_k": self.options["top_k"],
        }
        stream = self.options["stream"]
        if self.options["mode"] == "chat":
            parts = self._call(
                self.client.chat,
                model=self.model_id,
                stream=stream,
                messages=[{"role": "user", "content": request.prompt}],
                options=options,
            )
        else:
            parts = self._call(
                self.client.generate,
                model=self.model_id,
                stream=stream,
                prompt=request.prompt,
                raw=True,
                options=options,
            )
        if not stream:
            parts = [parts]
        texts = []
        last = None
        try:
            for last in parts:
                texts.append(
                    last.message.content if self.options["mode"] == "chat" else last.response
                )
        except Exception as e:  # a stream broken half-way
            raise self._error(e) from None
        if last is None:  # a stream that ended before its first line (a proxy, a crash)
            raise ZestError(f"Ollama at {self.host} ended the answer before sending anything")
        return Completion(
            text="".join(t or "" for t in texts),
            prompt_tokens=last.prompt_eval_count or 0,
            completion_tokens=last.eval_count or 0,
            finish_reason="length" if last.done_reason == "length" else "stop",
        )

    def _check_model(self) -> None:
        listed = self._call(self.client.list)
        names = {name for m in listed.models for name in _aliases(m.model)}
        if self.model_id not in names:
            raise ZestError(self._not_pulled())
        self._checked = True

    def _not_pulled(self) -> str:
        return (
            f"Ollama at {self.host} has no model '{self.model_id}': "
            f"pull it first with: ollama pull {self.model_id}"
        )

    def _call(self, method, **kwargs):
        try:
            return method(**kwargs)
        except Exception as e:
            raise self._error(e) from None

    def _error(self, e: Exception) -> Exception:
        """What the user can fix as one ZestError; anything else unchanged."""
        import httpx

        if isinstance(e, self._ollama.ResponseError):
            if e.status_code == 404:
                return ZestError(self._not_pulled())
            status = f" (HTTP {e.status_code})" if e.status_code > 0 else ""  # -1: mid-stream
            return ZestError(f"Ollama at {self.host} failed: {e.error}{status}")
        if isinstance(e, (ConnectionError, httpx.ConnectError)):
            return ZestError(
                f"cannot reach Ollama at {self.host}: is `ollama serve` running "
                "there (set it with -o host=ADDRESS or OLLAMA_HOST)?"
            )
        if isinstance(e, httpx.TimeoutException):
            return ZestError(
                f"no answer from Ollama at {self.host} within "
                f"{self.options['timeout']} s (raise it with -o timeout=SECONDS)"
            )
        if isinstance(e, httpx.TransportError):
            return ZestError(f"the connection to Ollama at {self.host} failed: {e}")
        return e

    def provenance(self) -> dict:
        return {**super().provenance(), "host": self.host}

    def close(self) -> None:
        self.client.close()


def _aliases(name: str) -> tuple[str, ...]:
    """An untagged Ollama name means ``:latest``."""
    return (name, name.removesuffix(":latest")) if name.endswith(":latest") else (name,)
