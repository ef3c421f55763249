"""What a filter plugin implements: the documents of a corpus version in, drops out.

Writing the child version is the core's part (``zest_core.corpus.filtering``).
"""

from collections.abc import Iterable
from typing import Any, NamedTuple

from .options import Configurable


class Drop(NamedTuple):
    """One document a filter leaves out: its id, a short reason code, a readable detail."""

    document_id: int
    reason: str
    detail: str = ""


class Filter(Configurable):
    """Base class of filter plugins.

    Subclasses set ``name`` and ``options`` (``Option`` declarations, as generators and
    encoders do; ``-o FILTER.KEY=VALUE`` overrides them) and implement ``drops``.
    ``self.options`` holds the checked values; ``settings()`` (the option values unless
    overridden) is recorded in the filter version's config.
    """

    kind = "filter"

    def __init__(self, **options: Any):
        self.options = self.check_options(options)

    def drops(self, documents: list[dict], exemplars: list[dict]) -> Iterable[Drop]:
        """The documents to leave out of the child version, each with its reason.

        ``documents`` are the rows still kept by earlier filters (``id``, ``ordinal``,
        ``text``, ``finish_reason``, ...) in ordinal order; ``exemplars`` are the version's
        exemplar rows (``title``, ``text``). When two documents duplicate each other, keep
        the one with the lower ordinal.
        """
        raise NotImplementedError


__all__ = ["Drop", "Filter"]
