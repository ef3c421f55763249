"""English word frequencies for trimmed vocabularies, shipped in the package.

``trim.py`` needs two things from an English word-frequency list: the ``ENGLISH_WORDS`` most
frequent words with their frequencies (the English sample whose tokens a trimmed copy keeps)
and the Zipf frequency of each exemplar word (``vocab=auto``'s language decision). wordfreq has
both, but it is a 58 MB install of many languages for this one use, and ``vocab=auto`` is the
default path. ``data/english-words.tsv.gz`` holds exactly what ``trim.py`` reads from wordfreq:
its 100,000 most frequent English words in its order, each with ``wordfreq.word_frequency(word,
"en")`` (a few hundred KB; derived from wordfreq's data, CC BY-SA 4.0, see ``data/NOTICE.md``).
``benchmarks/english_words.py`` regenerates it, and ``tests/test_english_words.py`` checks, when
wordfreq is installed, that it equals what wordfreq gives.
"""

import functools
import gzip
import importlib.resources
import math
import unicodedata

from zest_core import ZestError

FILE = "english-words.tsv.gz"


@functools.cache
def _table() -> tuple[str, list[tuple[str, float]], dict[str, float]]:
    """The file's source line, its (word, frequency) pairs in rank order and them as a dict."""
    resource = importlib.resources.files(__package__) / "data" / FILE
    try:
        lines = gzip.decompress(resource.read_bytes()).decode("utf-8").splitlines()
        source = lines[0].removeprefix("# ")
        words = [(word, float(freq)) for word, freq in (line.split("\t") for line in lines[1:])]
    except (OSError, ValueError, IndexError, EOFError, gzip.BadGzipFile) as e:
        raise ZestError(
            f"the English word list {resource} is missing or unreadable ({e}): reinstall zest-core"
        ) from None
    return source, words, dict(words)


def source() -> str:
    """Where the list comes from (wordfreq's version and list): part of cache keys."""
    return _table()[0]


def top_words(n: int) -> list[tuple[str, float]]:
    """The ``n`` most frequent English words, most frequent first, with their frequencies (as
    ``wordfreq.top_n_list`` and ``wordfreq.word_frequency`` give them)."""
    words = _table()[1]
    if n > len(words):
        raise ZestError(f"the shipped English word list holds {len(words):,} words, not {n:,}")
    return words[:n]


def floor() -> float:
    """The Zipf frequency of the list's last word: ``zipf`` is exact above it."""
    return to_zipf(_table()[1][-1][1])


def zipf(word: str) -> float:
    """``wordfreq.zipf_frequency(word, "en")`` for a single alphabetic word whose Zipf frequency
    is above ``floor()``; 0.0 for a word outside the list."""
    frequency = _table()[2].get(unicodedata.normalize("NFC", word).casefold())
    return 0.0 if frequency is None else to_zipf(frequency)


def to_zipf(frequency: float) -> float:
    """wordfreq's Zipf scale: log10 of the frequency per billion words, to 2 decimals."""
    return round(math.log(frequency, 10) + 9, 2)


def from_wordfreq(n: int) -> tuple[str, list[tuple[str, float]]]:
    """What the shipped file holds, computed from wordfreq (installed): its source line and
    the ``n`` most frequent English words with their frequencies."""
    from importlib.metadata import version

    import wordfreq

    source = (
        f"wordfreq {version('wordfreq')}: top_n_list('en', {n}) with word_frequency(word, 'en');"
        " wordfreq's data is CC BY-SA 4.0 (NOTICE.md)"
    )
    return source, [(w, wordfreq.word_frequency(w, "en")) for w in wordfreq.top_n_list("en", n)]


def render(source: str, words: list[tuple[str, float]]) -> bytes:
    """The file's bytes: the source line, then ``word<TAB>frequency`` lines (the frequency as
    Python writes the float, so that it reads back identical), gzip'd reproducibly."""
    text = "".join([f"# {source}\n", *(f"{word}\t{freq!r}\n" for word, freq in words)])
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def path() -> str:
    """Where the shipped file is (for the script that regenerates it)."""
    return str(importlib.resources.files(__package__) / "data" / FILE)
