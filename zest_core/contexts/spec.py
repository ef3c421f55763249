"""An ``[[encoder]]`` table of an experiment grid as one value: its defaults filled once, its
label (the report's section name) and its settings made in one place, so the grid, the
experiment's arms and the adapted arms read the same fields instead of each ``.get`` with a
default of its own."""

from dataclasses import dataclass, field, fields
from typing import Any

from ..plugin.encoder import DEFAULT_ENCODER


@dataclass(frozen=True)
class EncoderSpec:
    name: str = DEFAULT_ENCODER
    model: str | None = None
    options: dict = field(default_factory=dict)
    tuned: Any = False  # checked by the grid (must be a bool)
    tune_docs: Any = None  # with tuned: tune on a balanced subset of this many documents
    adapted: Any = False  # checked by the adapted arms (must be a bool)
    adapt: Any = None  # zest adapt's options, with adapted

    @classmethod
    def from_table(cls, table: dict) -> "EncoderSpec":
        """The table's keys (checked against the grid's known keys before this)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in table.items() if k in known and v is not None})

    @property
    def label(self) -> str:
        """The encoder as the report names it: name, model, options, tuning, adaptation."""
        options = ",".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        model = f"({self.model})" if self.model else ""
        label = f"{self.name}{model}" + (f"[{options}]" if options else "")
        if self.tuned:
            label += " tuned" + (f" on {self.tune_docs} docs" if self.tune_docs else "")
        if self.adapted:
            adapt = ",".join(f"{k}={v}" for k, v in sorted((self.adapt or {}).items()))
            label += " adapted" + (f"[{adapt}]" if adapt else "")
        return label

    def settings(self) -> dict:
        """The settings it runs with (the key its tunings are stored under); the model loads
        lazily, so this does not load it."""
        from .encoding import make_encoder

        encoder = make_encoder(self.name, self.model, **self.options)
        try:
            return encoder.settings()
        finally:
            encoder.close()


__all__ = ["EncoderSpec"]
