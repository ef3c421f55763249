"""Regenerate the English word list that trimmed vocabularies use, from wordfreq.

``plugins/zest_llama_cpp/data/english-words.tsv.gz`` ships wordfreq's ``ENGLISH_WORDS`` most
frequent English words with their frequencies, so that ``vocab=auto`` (the default) needs no
wordfreq install (``zest_llama_cpp/english.py`` says why). Run after a wordfreq upgrade:

    pip install wordfreq && python benchmarks/english_words.py

``tests/test_english_words.py`` fails while the shipped file differs from what the installed
wordfreq gives. A changed list changes the trimmed copies' cache keys (its source line is part
of them), so the next run builds its trimmed copy again.
"""

import time
from pathlib import Path

from zest_llama_cpp import english
from zest_llama_cpp.trim import ENGLISH_WORDS


def main() -> None:
    started = time.monotonic()
    source, words = english.from_wordfreq(ENGLISH_WORDS)
    data = english.render(source, words)
    Path(english.path()).write_bytes(data)
    print(f"{english.path()}: {len(words):,} words, {len(data):,} bytes ({source})")
    print(f"in {time.monotonic() - started:.1f} s; Zipf floor {english.to_zipf(words[-1][1])}")


if __name__ == "__main__":
    main()
