"""Plugin options: ``-o key=value`` strings merged over a plugin's typed defaults."""

from typing import Any, ClassVar, Iterable

from .errors import ZestError


class ModelPlugin:
    """What generators and encoders share: a ``name``, a model, and options coerced to the
    types of ``defaults`` (option name -> default value) into ``self.options``."""

    name: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}
    #: Options that take one of a few values: option name -> the allowed values.
    choices: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __init__(self, model: str | None = None, **options: Any):
        self.model = model
        self.options = coerce_options(self.name, self.defaults, options)
        for key, allowed in self.choices.items():
            if self.options[key] not in allowed:
                listed = ", ".join(allowed[:-1]) + " or " + allowed[-1]
                raise ZestError(f"option {key} for '{self.name}' must be {listed}")

    @property
    def model_id(self) -> str:
        """The model as recorded with results (a path, a name or a served id)."""
        return self.model or "default"


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
