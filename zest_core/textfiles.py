"""Reading the user's text and JSON Lines files with one clear error for each way they break."""

import json
from collections.abc import Iterator
from pathlib import Path

from .errors import ZestError


def read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ZestError(
            f"{path} is not valid UTF-8 text (byte {e.start}: {e.object[e.start : e.start + 1]!r})"
        ) from None


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` for each line, streamed: a corpus need not fit in memory."""
    with path.open("rb") as file:
        for number, raw in enumerate(file, 1):
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ZestError(
                    f"{path}, line {number}: not valid UTF-8 text"
                    f" (byte {e.start}: {e.object[e.start : e.start + 1]!r})"
                ) from None


def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """``(line number, object)`` for each non-blank line, streamed."""
    for number, line in read_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise ZestError(f"{path}, line {number}: not valid JSON ({e.msg})") from None
        if not isinstance(record, dict):
            raise ZestError(f"{path}, line {number}: not a JSON object")
        yield number, record
