"""What an anchor strategy plugin implements, and the prompt machinery strategies share.

Prompt templates are data (TOML), so users can change them with ``zest run --templates``;
their hashes go into every version's provenance.
"""

import hashlib
import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from ..errors import ZestError
from ..text import first_words
from ..text import title as title_of
from .generation import Completion, Generator, Request
from .loops import last_sentence_end
from .options import Configurable, Option, type_words


def derive_seed(seed: int, *parts: Any) -> int:
    """A stable 31-bit seed for one sample: the same inputs give the same seed in any process."""
    digest = hashlib.sha256(json.dumps([seed, *parts]).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def plan_anchor(ordinal: int, n_docs: int, n_anchors: int) -> int:
    """The anchor of document ``ordinal``: contiguous, balanced blocks (sizes differ by <= 1)."""
    return ordinal * n_anchors // n_docs


def load_templates(path: str | Path) -> dict:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ZestError(f"templates file not found: {path}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ZestError(f"templates file {path} is not valid TOML: {e}") from None


# The fields a template may use, with stand-in values for checking templates up front.
TEMPLATE_FIELDS = {"n": 1, "title": "title", "text": "text", "anchor": "anchor"}
# What every table may hold (checked in ``_check_table``); a strategy adds its own settings
# in ``template_settings``, and any other key is refused as a typo.
COMMON_KEYS = (
    "header",
    "exemplar",
    "next",
    "max_tokens",
    "exemplar_words",
    "temperature",
    "cut_to_sentence",
    "stop",
)


class AnchorStrategy(Configurable):
    """Base class of anchor strategies.

    A subclass sets ``name``, ``uses_anchors`` and ``default_templates`` (a TOML file with a
    ``[document]`` table, and an ``[anchor]`` table when it uses anchors), and implements
    ``make_anchors`` if it uses anchors. Each table holds ``header``, ``exemplar`` and ``next``
    format strings (fields ``{n}``, ``{title}``, ``{text}``, ``{anchor}``) plus sampling settings.
    It may declare ``options`` like the other plugin kinds.
    """

    kind = "anchor strategy"
    uses_anchors: ClassVar[bool] = True
    default_templates: ClassVar[Path]
    #: What ``make_anchors`` says about its sampling (counts, thresholds), recorded in the
    #: version's provenance beside the anchors' diversity. A strategy assigns a new dict; the
    #: default is read-only so that no instance can fill in the one all classes share.
    report: Mapping[str, Any] = MappingProxyType({})
    #: The strategy's own settings in its template tables, ``{table: {key: Option}}`` (type,
    #: bounds, choices), checked with the rest before any work: a wrong type, a value out of
    #: bounds or an unknown key is one error naming the file, the table and the key.
    template_settings: ClassVar[Mapping[str, Mapping[str, Option]]] = MappingProxyType({})

    def __init__(self, templates: str | None = None, **options: Any):
        self.options = self.check_options(options)
        self.templates_path = str(templates or self.default_templates)
        self.templates = load_templates(self.templates_path)
        needed = ["document"] + (["anchor"] if self.uses_anchors else [])
        for table in needed:
            missing = {"header", "exemplar", "next", "max_tokens", "temperature"} - set(
                self.templates.get(table, {})
            )
            if missing:
                raise ZestError(
                    f"templates {self.templates_path}: [{table}] lacks {', '.join(sorted(missing))}"
                )
            self._check_table(table, self.templates[table])

    def _check_table(self, table: str, t: dict) -> None:
        """Every template formatted once with stand-in values and every setting type-checked,
        so a typo fails here, before a version exists, not after the anchors are generated."""
        where = f"templates {self.templates_path}: [{table}]"
        for key in ("header", "exemplar", "next"):
            if not isinstance(t[key], str):
                raise ZestError(f"{where} {key} must be a string")
            try:
                t[key].format(**TEMPLATE_FIELDS)
            except KeyError as e:
                raise ZestError(
                    f"{where} {key} uses the unknown field {{{e.args[0]}}}"
                    f" (known: {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)})"
                ) from None
            except (ValueError, IndexError) as e:
                raise ZestError(
                    f"{where} {key} is not a valid template ({e}); write a"
                    " literal brace as {{ or }}"
                ) from None
        for key in ("max_tokens", "exemplar_words"):
            value = t.get(key, 1)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ZestError(f"{where} {key} must be a positive whole number, not {value!r}")
        temperature = t["temperature"]
        if (
            not isinstance(temperature, (int, float))
            or isinstance(temperature, bool)
            or not 0 <= temperature < float("inf")
        ):
            raise ZestError(
                f"{where} temperature must be a finite number >= 0, not {temperature!r}"
            )
        self._check_settings(where, t, self.template_settings.get(table, {}))
        if not isinstance(t.get("cut_to_sentence", False), bool):
            raise ZestError(f"{where} cut_to_sentence must be true or false")
        stop = t.get("stop", [])
        if not isinstance(stop, list) or not all(isinstance(x, str) and x for x in stop):
            raise ZestError(
                f"{where} stop must be a list of non-empty strings, e.g. stop ="
                f' ["\\n"], not {stop!r}'
            )

    @staticmethod
    def _check_settings(where: str, t: dict, specs: Mapping[str, Option]) -> None:
        """The strategy's own settings as declared (TOML types as written: ``"2"`` is not a
        number), and no key that neither the base class nor the strategy knows."""
        unknown = sorted(set(t) - set(COMMON_KEYS) - set(specs))
        if unknown:
            known = ", ".join([*COMMON_KEYS, *specs])
            raise ZestError(f"{where} has the unknown setting {unknown[0]} (known: {known})")
        for key, spec in specs.items():
            if key not in t:
                continue
            value = t[key]
            try:
                if isinstance(value, str) and spec.type is not str:
                    raise ZestError("a quoted value")
                spec.check("", key, value)
            except ZestError:
                wanted = (
                    f"one of {spec.allowed(repr)}"
                    if spec.choices
                    else " ".join(x for x in (type_words(spec.type), spec.allowed()) if x)
                )
                raise ZestError(f"{where} {key} must be {wanted}, not {value!r}") from None

    def template_hashes(self) -> dict[str, str]:
        return {
            table: hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
            for table, body in sorted(self.templates.items())
        }

    def exemplar_words(self) -> int:
        """The most words of an exemplar that any prompt shows (``exemplar_words``)."""
        tables = [t for t in self.templates.values() if "exemplar" in t]
        return max((t.get("exemplar_words", 200) for t in tables), default=200)

    def prompt(self, table: str, exemplars: list[dict], order: list[int], anchor: str = "") -> str:
        """Exemplars as consecutive documents of one collection, then the start of the next."""
        t = self.templates[table]
        limit = t.get("exemplar_words", 200)
        parts = [t["header"]]
        for n, i in enumerate(order, 1):
            ex = exemplars[i]
            text = first_words(ex["text"], limit)
            parts.append(t["exemplar"].format(n=n, title=title_of(ex), text=text))
        parts.append(t["next"].format(n=len(order) + 1, anchor=anchor))
        return "".join(parts)

    def request(self, table: str, key: int, prompt: str, seed: int) -> Request:
        t = self.templates[table]
        return Request(
            key=key,
            prompt=prompt,
            max_tokens=t["max_tokens"],
            temperature=t["temperature"],
            seed=seed,
            stop=tuple(t.get("stop", ())),
        )

    def document_request(
        self, exemplars: list[dict], anchor: str | None, ordinal: int, seed: int
    ) -> Request:
        prompt = self.prompt("document", exemplars, list(range(len(exemplars))), anchor or "")
        return self.request("document", ordinal, prompt, seed)

    def make_anchors(
        self, exemplars: list[dict], n: int, generator: Generator, seed: int
    ) -> list[dict]:
        """``n`` anchors as ``{"text", "attempts", "prompt_tokens", "completion_tokens"}``."""
        raise NotImplementedError

    @staticmethod
    def clean_document(text: str) -> str:
        return text.strip()

    def finish_document(self, completion: Completion) -> tuple[str, str]:
        """The text to store for a document, and its finish reason.

        With ``cut_to_sentence = true`` in the ``[document]`` table, a text that does not end
        with a full sentence (it hit ``max_tokens``, or a stop sequence came mid-sentence, as
        a model imitating exemplars cut at ``exemplar_words`` does) is cut back to its last
        full sentence, finish reason ``cut``: the quality filter would drop it whole as
        truncated. A text with no full sentence stays as written."""
        text = self.clean_document(completion.text)
        if text and self.templates["document"].get("cut_to_sentence", False):
            cut = last_sentence_end(text)
            if cut != text:
                return cut, "cut"
        return text, completion.finish_reason
