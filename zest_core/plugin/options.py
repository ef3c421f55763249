"""Plugin options, declared once: default, type, help, allowed values and bounds.

Every plugin kind (generators, encoders, filters) declares its options in a class attribute::

    options = {"top_p": Option(0.95, float, "nucleus sampling: ...", min=0, max=1)}

and receives the checked values as the instance attribute ``self.options`` (name -> value).
The same declaration coerces ``-o key=value`` strings, refuses values of the wrong type, NaN
and infinities, enforces choices and bounds, and is what ``zest plugins --options`` lists.
"""

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import ZestError

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class Option:
    """One plugin option. ``type`` is ``str``, ``int``, ``float`` or ``bool``; ``choices``
    lists the allowed values; ``min`` and ``max`` are inclusive bounds of a number."""

    default: Any
    type: type
    help: str
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None

    def __post_init__(self):
        if self.type not in (str, int, float, bool):
            raise TypeError(f"Option type must be str, int, float or bool, not {self.type!r}")
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))

    def check(self, owner: str, key: str, value: Any) -> Any:
        """``value`` as this option's type, or a ZestError that says what is allowed."""
        given = value

        def refuse(allowed: str) -> ZestError:
            return ZestError(f"option {key} for '{owner}' must be {allowed} (got {given!r})")

        value = self._typed(value, refuse)
        if (
            (self.choices is not None and value not in self.choices)
            or (self.min is not None and value < self.min)
            or (self.max is not None and value > self.max)
        ):
            raise refuse(self.allowed())
        return value

    def _typed(self, value: Any, refuse) -> Any:
        kind = self.type
        if isinstance(value, str) and kind is not str:  # from the command line
            text = value.strip().lower()
            if kind is bool:
                if text in TRUE or text in FALSE:
                    return text in TRUE
                raise refuse(_a(bool))
            try:
                value = kind(text)
            except ValueError:
                raise refuse(_a(kind)) from None
        elif kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise refuse(_a(kind))
        if kind is float and not math.isfinite(value):
            raise refuse("a finite number")
        return value

    def allowed(self, show: Callable[[Any], str] = str) -> str:
        """The allowed values in words (``allowed``)."""
        return allowed(self.choices, self.min, self.max, show)


def allowed(choices=None, low=None, high=None, show: Callable[[Any], str] = str) -> str:
    """Allowed values in words, as errors, ``zest plugins --options`` and the docs' option
    tables all say them: "a, b or c" (each choice through ``show``), "between 0 and 1",
    "at least 1", "at most 9", or "" when anything of the type goes."""
    if choices:
        listed = [show(c) for c in choices]
        return listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " or " + listed[-1]
    if low is not None and high is not None:
        return f"between {low} and {high}"
    if low is not None:
        return f"at least {low}"
    return f"at most {high}" if high is not None else ""


def type_words(kind: type) -> str:
    """ "a whole number", "a number", "a string", "true or false": a type in words."""
    return _a(kind)


def _a(kind: type) -> str:
    name = {str: "string", int: "whole number", float: "number", bool: "true or false"}.get(
        kind, kind.__name__
    )
    return name if kind is bool else f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


class Configurable:
    """What every kind of plugin class shares (generators, anchor strategies, filters,
    encoders): a ``name`` (what the user selects it by; the plugin manager refuses a class
    without one), a ``kind`` (for messages) and ``options``, the declarations, replaced on
    each instance by the checked values.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "plugin"
    options: ClassVar[dict[str, Option]] = {}

    @classmethod
    def option_specs(cls) -> dict[str, Option]:
        return dict(cls.options)

    @classmethod
    def check_options(cls, given: dict[str, Any]) -> dict[str, Any]:
        """The declared defaults overridden by ``given``, each checked; a ZestError names an
        unknown option or a bad value before the plugin does any work."""
        specs = cls.option_specs()
        unknown = sorted(set(given) - set(specs))
        if unknown:
            known = ", ".join(sorted(specs)) or "none"
            raise ZestError(
                f"unknown option {', '.join(unknown)} for '{cls.name}'"
                f" (options of this {cls.kind}: {known})"
            )
        values = {key: spec.default for key, spec in specs.items()}
        for key, value in given.items():
            values[key] = specs[key].check(cls.name, key, value)
        return values

    def settings(self) -> dict[str, Any]:
        """Everything about this instance that changes what it produces, as recorded with its
        output (a filter version's config; for encoders also part of every cache key): the
        option values, to which a plugin adds what else it depends on (a model, a checkpoint)."""
        return dict(self.options)

    @classmethod
    def resolve_options(cls, given: dict[str, Any], exemplars: list[dict] = ()) -> dict[str, Any]:
        """The values the plugin runs with when asked for ``given`` on these exemplars: the
        defaults filled in (``check_options``) and every ``auto`` replaced by what it stands
        for. Cheap (no model is loaded), so two configs can be compared by what they would
        run with: the store records it with every version (``versions.resolved``) and
        ``zest experiment`` reuses a run only when it resolves alike. A plugin whose options
        have ``auto`` values overrides this."""
        return cls.check_options(given)

    @classmethod
    def resolution_notes(
        cls, given: dict[str, Any], resolved: dict[str, Any], exemplars: list[dict] = ()
    ) -> list[str]:
        """Lines that say what an ``auto`` value of ``given`` was resolved to on these
        exemplars, and why; ``zest run`` prints them once, when a run starts (a resumed run
        runs what was recorded and says nothing). None by default."""
        return []


class ModelPlugin(Configurable):
    """What generators and encoders share: a model, and checked options in ``self.options``."""

    def __init__(self, model: str | None = None, **options: Any):
        self.model = model
        self.options = self.check_options(options)

    @property
    def model_id(self) -> str:
        """The model as recorded with results (a path, a name or a served id)."""
        return self.model or "default"


def parse_option_pairs(pairs: Iterable[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``, as given to ``-o/--option``."""
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ZestError(f"option {pair!r} is not of the form key=value")
        options[key.strip()] = value
    return options
