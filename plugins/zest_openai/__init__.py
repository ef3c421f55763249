"""OpenAI generator: the OpenAI API or any OpenAI-compatible server (vLLM, llama.cpp server,
LM Studio) through the official ``openai`` client (``pip install 'zest-core[openai]'``).

``-o base_url=URL`` points at the server; the key comes from ``OPENAI_API_KEY`` (never stored with
the version). ``mode=completion`` uses ``/v1/completions``, which base models need (a GGUF
without a chat template answers chat requests with empty or looping text); ``mode=chat`` uses
``/v1/chat/completions`` for instruct models. ``concurrency`` requests stay in flight so a
remote server can batch them; the client retries 408/409/429/5xx and dropped connections with
exponential backoff, ``max_retries`` times. Token counts are the server's reported usage,
stored with each document (summed in ``zest corpora show`` and ``zest compare``).
"""

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from zest_core import Completion, Generator, Option, Request, ZestError, hookimpl, require

DEFAULT_BASE_URL = "https://api.openai.com/v1"


@hookimpl
def register_generators(register):
    register(OpenAIGenerator)


class OpenAIGenerator(Generator):
    name = "openai"
    options = {
        "base_url": Option(
            "",
            str,
            "API base URL of an OpenAI-compatible server, e.g."
            " http://127.0.0.1:8000/v1 (empty: $OPENAI_BASE_URL, else the"
            " OpenAI API).",
        ),
        "mode": Option(
            "completion",
            str,
            "completion uses /v1/completions (base models);"
            " chat uses /v1/chat/completions (instruct models).",
            choices=("completion", "chat"),
        ),
        "concurrency": Option(
            4, int, "Requests kept in flight at once, so the server can batch them.", min=1
        ),
        "max_retries": Option(
            3,
            int,
            "Retries of a request after 408/409/429/5xx answers or"
            " a dropped connection, with exponential backoff.",
            min=0,
        ),
        "timeout": Option(
            600.0, float, "Seconds to wait for an answer before giving up on a request.", min=0.001
        ),
        "top_p": Option(
            1.0,
            float,
            "Nucleus sampling: draw from the most likely tokens whose"
            " probabilities add up to top_p (1 turns it off).",
            min=0,
            max=1,
        ),
    }

    def __init__(self, model: str | None = None, **options):
        super().__init__(model, **options)
        self.base_url = (
            self.options["base_url"] or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        )
        key = os.environ.get("OPENAI_API_KEY")
        if not key and self.base_url == DEFAULT_BASE_URL:
            raise ZestError(
                "set OPENAI_API_KEY, or give -o base_url=URL for an"
                " OpenAI-compatible server that needs no key"
            )
        openai = require("openai", extra="openai", by="the openai generator")
        self._openai = openai
        # Local servers accept any key, but the client insists on one.
        self.client = openai.OpenAI(
            api_key=key or "no-key",
            base_url=self.base_url,
            max_retries=self.options["max_retries"],
            timeout=self.options["timeout"],
        )
        self._served: str | None = None

    @property
    def model_id(self) -> str:
        """The model given, else the only one the server lists (one-model local servers)."""
        if self.model:
            return self.model
        if self._served is None:
            served = [m.id for m in self._call(self.client.models.list)]
            if len(served) != 1:
                raise ZestError(
                    f"give --model: the server at {self.base_url} serves "
                    f"{', '.join(served) or 'no models'}"
                )
            self._served = served[0]
        return self._served

    def complete(self, request: Request) -> Completion:
        args = dict(
            model=self.model_id,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            top_p=self.options["top_p"],
            seed=request.seed,
            stop=list(request.stop) or None,
        )
        if self.options["mode"] == "chat":
            out = self._call(
                self.client.chat.completions.create,
                messages=[{"role": "user", "content": request.prompt}],
                **args,
            )
            text = out.choices[0].message.content or ""
        else:
            out = self._call(self.client.completions.create, prompt=request.prompt, **args)
            text = out.choices[0].text or ""
        if out.usage is None:
            raise ZestError(f"the server at {self.base_url} reports no token usage")
        return Completion(
            text=text,
            prompt_tokens=out.usage.prompt_tokens,
            completion_tokens=out.usage.completion_tokens,
            finish_reason="length" if out.choices[0].finish_reason == "length" else "stop",
        )

    def complete_many(self, requests: Iterable[Request]) -> Iterator[tuple[Request, Completion]]:
        """Keep ``concurrency`` requests in flight and yield each result as it arrives.

        After a failure no new request is sent; those in flight are drained and their results
        yielded (so they are stored), then the first error is raised."""
        pending = iter(requests)
        in_flight: dict[Future, Request] = {}
        error: BaseException | None = None
        with ThreadPoolExecutor(self.options["concurrency"]) as pool:
            try:
                while True:
                    while error is None and len(in_flight) < self.options["concurrency"]:
                        request = next(pending, None)
                        if request is None:
                            break
                        in_flight[pool.submit(self.complete, request)] = request
                    if not in_flight:
                        break
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in done:
                        request = in_flight.pop(future)
                        if future.exception() is not None:
                            error = error or future.exception()
                        else:
                            yield request, future.result()
            finally:
                for future in in_flight:
                    future.cancel()
        if error is not None:
            raise error

    def _call(self, method, **kwargs):
        """Call the client; turn what the user can fix into one clear ZestError."""
        openai = self._openai
        where = self.base_url
        try:
            return method(**kwargs)
        except openai.AuthenticationError:
            raise ZestError(
                f"the server at {where} rejected the API key (401): check OPENAI_API_KEY"
            ) from None
        except openai.APITimeoutError:
            raise ZestError(
                f"no answer from {where} within {self.options['timeout']} s "
                "(raise it with -o timeout=SECONDS)"
            ) from None
        except openai.APIConnectionError as e:
            raise ZestError(
                f"cannot connect to {where} ({e.__cause__ or e}): is the server "
                "running, and is -o base_url right?"
            ) from None
        except openai.RateLimitError:
            raise ZestError(
                f"{where} still rate-limits after {self.options['max_retries']} "
                "retries: lower -o concurrency or raise -o max_retries"
            ) from None
        except openai.NotFoundError as e:
            raise ZestError(
                f"{where} has no model '{kwargs.get('model')}' or no endpoint for "
                f"mode={self.options['mode']} (404): {_message(e)}"
            ) from None
        except openai.APIStatusError as e:
            raise ZestError(f"{where} answered {e.status_code}: {_message(e)}") from None

    def provenance(self) -> dict:
        return {**super().provenance(), "base_url": self.base_url}

    def close(self) -> None:
        self.client.close()


def _message(error) -> str:
    body = error.body
    if isinstance(body, dict):
        body = body.get("message") or body.get("error") or body
    return str(body or error.message)
