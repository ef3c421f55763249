"""What a generator plugin implements: completion requests in, completions out."""

from dataclasses import dataclass
from typing import Any, ClassVar, Iterable, Iterator

from .errors import ZestError


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


class Generator:
    """Base class of generator plugins.

    Subclasses set ``name``, ``defaults`` (option name -> default value) and implement
    ``complete``. ``self.options`` holds the defaults overridden by the user's options, coerced
    to the type of each default; ``provenance()`` is stored with every version it generates.
    """

    name: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, model: str | None = None, **options: Any):
        self.model = model
        self.options = coerce_options(self.name, self.defaults, options)

    @property
    def model_id(self) -> str:
        """The model as recorded in provenance (a path, a name or a served id)."""
        return self.model or "default"

    def complete(self, request: Request) -> Completion:
        raise NotImplementedError

    def complete_many(self, requests: Iterable[Request]) -> Iterator[tuple[Request, Completion]]:
        """Yield ``(request, completion)`` as each finishes; order may differ from input."""
        for request in requests:
            yield request, self.complete(request)

    def provenance(self) -> dict[str, Any]:
        return {"generator": self.name, "model": self.model_id, "options": dict(self.options)}

    def close(self) -> None:
        """Release models, sockets or servers; called once the run is over."""


def coerce_options(owner: str, defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Merge ``given`` over ``defaults``, converting strings from the command line."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        known = ", ".join(sorted(defaults)) or "none"
        raise ZestError(f"unknown option {', '.join(unknown)} for '{owner}' (known: {known})")
    merged = dict(defaults)
    for key, value in given.items():
        merged[key] = _coerce(owner, key, value, defaults[key])
    return merged


def _coerce(owner: str, key: str, value: Any, default: Any) -> Any:
    if not isinstance(value, str) or default is None or isinstance(default, str):
        return value
    try:
        if isinstance(default, bool):
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        return type(default)(value)
    except ValueError:
        raise ZestError(
            f"option {key}={value!r} for '{owner}' must be a {type(default).__name__}"
        ) from None


def parse_option_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``, as given to ``-o/--option``."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ZestError(f"option {pair!r} is not of the form key=value")
        options[key.strip()] = value
    return options


__all__ = ["Completion", "Generator", "Request", "coerce_options", "parse_option_pairs"]
