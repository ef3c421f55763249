"""Long documents as passages that fit the encoder, split on their structure.

An encoder reads a bounded number of tokens (MiniLM: 256) and silently drops the rest, so a
20-page report embedded whole is its first page. ``split_passages`` cuts a document into
passages of at most ``tokens`` tokens: a Markdown heading (``#`` lines, as the DOCX and
HTML readers write them) always starts a passage; within a section whole paragraphs are
packed together; a paragraph over the budget is cut at sentence ends, and a sentence over
it at words. A passage that continues a section starts with the last ``overlap`` tokens of
the previous one, so a sentence cut at a boundary is whole in one of them. A PDF's pages
are split one by one, so each passage has one page. Tokens are counted with the caller's
``count`` (the encoder's tokenizer in ``zest embed``).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

from .readers import Document

HEADING = re.compile(r"^#{1,6}\s")
PARAGRAPHS = re.compile(r"\n\s*\n")
SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


@dataclass
class Passage:
    text: str
    position: int  # 1-based, in the document
    page: int | None = None  # a PDF's page, 1-based


def split_passages(
    document: Document, tokens: int, overlap: int, count: Callable[[str], int]
) -> list[Passage]:
    """The passages of ``document``, in order; see the module docstring."""
    if tokens < 1 or not 0 <= overlap < tokens:
        raise ValueError("need tokens >= 1 and 0 <= overlap < tokens")
    units = enumerate(document.pages, 1) if document.pages else [(None, document.text)]
    passages: list[Passage] = []
    for page, text in units:
        for section in _sections(text):
            for chunk in _pack(section, tokens, overlap, count):
                passages.append(Passage(chunk, len(passages) + 1, page))
    return passages


def _sections(text: str) -> list[list[str]]:
    """Paragraphs grouped under their headings (a heading line is a paragraph of its own;
    a title straight above a section heading is one section with it)."""
    sections: list[list[str]] = [[]]
    for block in PARAGRAPHS.split(text):
        for paragraph in _heading_split(block):
            heads_only = all(HEADING.match(p) for p in sections[-1])
            if HEADING.match(paragraph) and not heads_only:  # headings in a row stay together
                sections.append([])
            sections[-1].append(paragraph)
    return [s for s in sections if s]


def _heading_split(block: str) -> list[str]:
    """A block's heading lines apart from the text around them."""
    parts, lines = [], []
    for line in block.strip().splitlines():
        if HEADING.match(line):
            parts += ["\n".join(lines)] if lines else []
            parts.append(line.strip())
            lines = []
        else:
            lines.append(line)
    parts += ["\n".join(lines)] if lines else []
    return [p.strip() for p in parts if p.strip()]


def _pieces(paragraph: str, tokens: int, count: Callable[[str], int]) -> list[str]:
    """The paragraph whole if it fits; else its sentences, a long one cut at words."""
    if count(paragraph) <= tokens:
        return [paragraph]
    pieces = []
    for sentence in SENTENCE_END.split(paragraph):
        if count(sentence) <= tokens:
            pieces.append(sentence)
            continue
        words = sentence.split()
        while words:
            n = min(len(words), tokens)
            while n > 1 and count(" ".join(words[:n])) > tokens:
                n = max(1, n * 3 // 4)
            pieces.append(" ".join(words[:n]))
            words = words[n:]
    return pieces


def _tail(text: str, overlap: int, count: Callable[[str], int]) -> str:
    """The last words of ``text`` within ``overlap`` tokens."""
    words = text.split()
    n = min(len(words), overlap)
    while n and count(" ".join(words[-n:])) > overlap:
        n = n * 3 // 4
    return " ".join(words[-n:]) if n else ""


def _pack(section: list[str], tokens: int, overlap: int, count) -> list[str]:
    """Pieces of one section packed greedily into passages of at most ``tokens``:
    paragraphs joined by a blank line, the pieces of one paragraph by a space."""
    chunks: list[str] = []
    current, used = "", 0
    for paragraph in section:
        joint = "\n\n"
        for piece in _pieces(paragraph, tokens, count):
            size = count(piece)
            if current and used + size > tokens:
                chunks.append(current)
                seed = _tail(current, overlap, count) if overlap else ""
                fits = seed and count(seed) + size <= tokens
                current, used = (seed, count(seed)) if fits else ("", 0)
            current = f"{current}{joint}{piece}" if current else piece
            used += size
            joint = " "
    if current:
        chunks.append(current)
    return chunks
