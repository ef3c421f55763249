"""What a generator plugin implements: completion requests in, completions out."""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from .options import ModelPlugin, Option

# Sampling options that most generators take, declared once so their help reads the same.
TOP_P = Option(
    0.95,
    float,
    "Nucleus sampling: draw from the most likely tokens whose"
    " probabilities add up to top_p (1 turns it off).",
    min=0,
    max=1,
)
TOP_K = Option(64, int, "Draw from the top_k most likely tokens (0: no limit).", min=0)


@dataclass(frozen=True)
class Request:
    """One completion to produce. ``key`` is the caller's handle (a plan ordinal)."""

    key: int
    prompt: str
    max_tokens: int
    temperature: float
    seed: int
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"  # "stop" (stop sequence or end of text) or "length"


class Generator(ModelPlugin):
    """Base class of generator plugins.

    Subclasses set ``name`` and ``options`` (``Option`` declarations; ``self.options`` holds
    the checked values) and implement ``complete``; ``provenance()`` is stored with every
    version the generator writes.
    """

    kind = "generator"
    #: Options that change how fast or where the generator runs, not what it writes: ``zest
    #: run --resume`` and top-ups may change them (the core adds its own, e.g. batch sizes).
    resume_safe_options: ClassVar[tuple[str, ...]] = ()
    #: Options added after versions began recording their resolved options, each with the
    #: value that does what the generator did before it existed: a stored version that lacks
    #: one ran with that value (so it is reused, compared and resumed as such, and a later
    #: change of the option's default cannot reach it).
    options_added: ClassVar[dict[str, Any]] = {}

    def prepare(self, exemplars: list[dict]) -> None:
        """Called with the run's exemplars before ``provenance()`` and the first request, so a
        generator can adapt itself to them (llama-cpp's ``vocab=trimmed`` keeps their tokens)."""

    def complete(self, request: Request) -> Completion:
        raise NotImplementedError

    def complete_many(self, requests: Iterable[Request]) -> Iterator[tuple[Request, Completion]]:
        """Yield ``(request, completion)`` as each finishes; order may differ from input."""
        for request in requests:
            yield request, self.complete(request)

    def provenance(self) -> dict[str, Any]:
        return {"generator": self.name, "model": self.model_id, "options": dict(self.options)}

    def loaded_facts(self) -> dict[str, Any]:
        """What only the prepared generator knows about how it runs, beyond its resolved
        options (llama-cpp: the trimmed model's kept-set size and hash); recorded under
        ``loaded`` in a version's resolved options, never compared."""
        return {}

    def close(self) -> None:
        """Release models, sockets or servers; called once the run is over."""

    def crash_hint(self) -> str | None:
        """What is known to crash this generator's native code as configured (a sentence
        naming the fix), for the one line ``zest`` prints if the process dies from a signal;
        None when nothing is known."""
        return None


__all__ = ["Completion", "Generator", "Request"]
