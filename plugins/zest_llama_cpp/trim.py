"""Trimmed-vocabulary copies of a GGUF: most of a small model's decoding time is its output layer.

Gemma 3 270M spends about 170M of its 270M parameters on 262,144 vocabulary rows (tied input
embedding and output layer), and every generated token multiplies the hidden state with all of
them. English documents use a small part of that vocabulary. ``trim_gguf`` writes a copy that
keeps only chosen token ids: the tokenizer arrays, the embedding / output rows (quantised rows
are independent blocks, so they are copied as bytes) and every id-valued metadata key are
restricted and renumbered. Nothing else changes, so for a kept token the model computes the same
logits as before, and text that needs a dropped token still tokenizes through shorter pieces or
byte fallback.

``kept_ids`` chooses the set: every special, control and byte token, every id that metadata
names, every token of the given texts (the run's exemplars), then the tokens of an English
sample rendered from wordfreq's English word list (shipped in the package: ``english.py``),
most frequent first, up to ``size`` ids. Each token comes with the tokens its SentencePiece
merges pass through, so text made of kept tokens tokenizes to the same pieces as with the full
vocabulary.
"""

import functools
import hashlib
import heapq
import json
import os
import re
import string
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from zest_core import ZestError

from . import english

# Bump when the written file changes for the same kept set: it is part of the cache key.
FORMAT = 1
DEFAULT_SIZE = 32_000
ENGLISH_WORDS = 100_000  # words of the shipped English list rendered into the English sample
# Trimmed copies the user cache keeps (about 90 MB each for Gemma 3 270M, one per exemplar set):
# an experiment over many datasets and seeds would otherwise fill the disk by a gigabyte a day.
CACHED_COPIES = 8
# vocab=auto trims when at least ENGLISH_SHARE of the exemplars' words have an English Zipf
# frequency of ENGLISH_ZIPF or more (about once per million words). Measured with
# benchmarks/vocab_auto.py (docs/trimmed-vocabulary.md#default): every set of 5 SciFact or
# NFCorpus documents scores at least 0.787, German, Spanish and French paragraphs at most
# 0.564, one by one or as a set; 0.7 leaves a margin of about 0.1 on each side.
ENGLISH_ZIPF = 3.0
ENGLISH_SHARE = 0.7
WORD = re.compile(r"\w+")
TRIMMED_TENSORS = ("token_embd.weight", "output.weight")
TOKENS, SCORES, TYPES, MERGES = (
    "tokenizer.ggml.tokens",
    "tokenizer.ggml.scores",
    "tokenizer.ggml.token_type",
    "tokenizer.ggml.merges",
)
NORMAL, BYTE = 1, 6  # gguf.TokenType
# Gemma's reserved slots: thousands of them, never produced by tokenizing text.
PLACEHOLDER = re.compile(r"<unused\d+>")
BYTE_TOKEN = re.compile(r"<0x([0-9A-F]{2})>")
# Kept whatever the sample says: punctuation, digits and spacing that prompt templates and
# documents use but a word list lacks.
ASCII = [*string.printable, *(" " + c for c in string.printable.strip())]
# Share of each rendering of a word in running text (weights for ranking its tokens).
VARIANTS = ((" {}", 1.0), (" {}", 0.15, str.capitalize), ("{}", 0.05), ("{}", 0.05, str.capitalize))


@dataclass
class Vocab:
    """A GGUF's SentencePiece vocabulary, as read by ``read_vocab``."""

    tokens: list[str]
    scores: list[float]
    types: list[int]
    id_keys: dict[str, list[int]]  # metadata key -> the token ids it names

    def __len__(self) -> int:
        return len(self.tokens)


def open_gguf(path: str | os.PathLike):
    """A ``gguf.GGUFReader`` over ``path``; a corrupt or truncated file is one ZestError."""
    try:
        import gguf
    except ImportError:
        raise ZestError(
            "trimming a vocabulary needs the gguf package, a zest-core dependency:"
            " reinstall zest-core"
        ) from None
    try:
        reader = _reader_class(gguf)(path)
        for tensor in reader.tensors:  # a truncated file maps short views without failing
            if tensor.data.nbytes != tensor.n_bytes:
                raise ValueError(f"tensor {tensor.name} runs past the end of the file")
        return reader
    except (ValueError, KeyError, IndexError, TypeError, OverflowError, OSError) as e:
        raise ZestError(
            f"cannot read GGUF {path} (corrupt or truncated?): {e or type(e).__name__}"
        ) from None


@functools.cache
def _reader_class(gguf):
    """``gguf.GGUFReader`` reading its fields through a plain array view of the file.

    The reader parses every element of the 262,144-entry tokenizer arrays with its own slice of
    a ``numpy.memmap``, and a memmap's slicing runs Python code each time: 10.7 s of the
    trimmed build on a free 2-core machine, 2.9 s through a plain ``ndarray`` view of the same
    mapping (``tests/test_trim.py`` checks both readers give the same fields and tensors)."""
    import numpy as np

    class Reader(gguf.GGUFReader):
        def _get(self, offset, dtype, count=1, override_order=None):
            plain = self.__dict__.get("_plain")
            if plain is None:
                plain = self._plain = self.data.view(np.ndarray)
            count, dtype = int(count), np.dtype(dtype)
            arr = plain[offset : offset + dtype.itemsize * count].view(dtype)[:count]
            order = self.byte_order if override_order is None else override_order
            return arr.view(arr.dtype.newbyteorder(order))

    return Reader


def _value(reader, key: str):
    field = reader.fields.get(key)
    return None if field is None else field.contents()


# llama.cpp's token attributes -> GGUF token types (gguf.TokenType).
ATTR_TYPES = ((1 << 5, BYTE), (1 << 3, 3), (1 << 4, 4), (1 << 0, 2), (1 << 1, 5), (1 << 2, NORMAL))


def read_vocab(path: str | os.PathLike) -> tuple[Vocab, Callable[[str], list[int]]]:
    """The vocabulary of the GGUF at ``path``, checked to be SentencePiece-style with all 256
    byte-fallback tokens, and a function tokenizing text with it as llama.cpp does (no BOS,
    special tokens as plain text).

    Read through llama.cpp's vocabulary-only load: ``gguf.GGUFReader`` builds a numpy view for
    every element of the 262,144-entry arrays, half a minute on a busy 2-core machine."""
    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    try:
        with suppress_stdout_stderr(disable=False):  # a context-size note, even when quiet
            llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    except (ValueError, RuntimeError) as e:
        # Say whether the file is unreadable or holds a vocabulary llama.cpp could not build.
        _stored_vocab(open_gguf(path))
        raise ZestError(
            f"cannot read GGUF {path}: llama.cpp could not load its vocabulary ({e})"
        ) from None
    model = llm.metadata.get("tokenizer.ggml.model")
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    if llama_cpp.llama_vocab_type(vocab) != llama_cpp.LLAMA_VOCAB_TYPE_SPM:
        raise ZestError(
            f"cannot trim {path}: its tokenizer is {model or 'missing'!r}, and only "
            "SentencePiece-style ('llama') vocabularies are supported"
        )
    n = llama_cpp.llama_vocab_n_tokens(vocab)
    tokens = [llama_cpp.llama_vocab_get_text(vocab, i).decode("utf-8") for i in range(n)]
    scores = [llama_cpp.llama_vocab_get_score(vocab, i) for i in range(n)]
    attrs = [llama_cpp.llama_vocab_get_attr(vocab, i) for i in range(n)]
    types = [next((kind for bit, kind in ATTR_TYPES if attr & bit), NORMAL) for attr in attrs]
    byte_values = {
        int(m[1], 16)
        for t, kind in zip(tokens, types)
        if kind == BYTE and (m := BYTE_TOKEN.fullmatch(t))
    }
    if len(byte_values) != 256:
        raise ZestError(
            f"cannot trim {path}: it has {len(byte_values)} of the 256 byte-fallback "
            "tokens, so text outside a trimmed vocabulary could not be tokenized"
        )
    id_keys = {
        key: [int(value)] for key, value in llm.metadata.items() if key.endswith("_token_id")
    }

    def tokenize(text: str) -> list[int]:
        return llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    return Vocab(tokens, scores, types, id_keys), tokenize


def required_ids(vocab: Vocab) -> set[int]:
    """Ids a trimmed copy must keep: all but normal tokens and placeholders, and named ids."""
    keep = {
        i
        for i, (text, kind) in enumerate(zip(vocab.tokens, vocab.types))
        if kind != NORMAL and not PLACEHOLDER.fullmatch(text)
    }
    return keep | {i for ids in vocab.id_keys.values() for i in ids if 0 <= i < len(vocab)}


class Merges:
    """SentencePiece's merge order over one vocabulary, as llama.cpp's tokenizer applies it:
    adjacent pieces whose concatenation is a token merge, highest score first, leftmost first."""

    def __init__(self, vocab: Vocab):
        self.index = {text: i for i, text in enumerate(vocab.tokens)}
        self.scores = vocab.scores
        self.bytes = {
            int(m[1], 16): i
            for i, (text, kind) in enumerate(zip(vocab.tokens, vocab.types))
            if kind == BYTE and (m := BYTE_TOKEN.fullmatch(text))
        }

    def _merge(self, text: str) -> tuple[list[str], list[int]]:
        """The pieces ``text`` ends as, and the ids of the tokens formed on the way."""
        symbols = list(text)
        queue: list[tuple[float, int, str, str]] = []
        nxt = list(range(1, len(symbols))) + [-1]
        prev = list(range(-1, len(symbols) - 1))

        def push(left: int) -> None:
            right = nxt[left]
            if right >= 0 and (token := self.index.get(symbols[left] + symbols[right])) is not None:
                heapq.heappush(queue, (-self.scores[token], left, symbols[left], symbols[right]))

        for i in range(len(symbols) - 1):
            push(i)
        formed = []
        while queue:
            _, left, a, b = heapq.heappop(queue)
            right = nxt[left]
            if right < 0 or symbols[left] != a or symbols[right] != b:
                continue  # one side was merged into something else since
            symbols[left] += b
            symbols[right] = ""
            formed.append(self.index[symbols[left]])
            nxt[left] = nxt[right]
            if nxt[right] >= 0:
                prev[nxt[right]] = left
            if prev[left] >= 0:
                push(prev[left])
            push(left)
        return [s for s in symbols if s], formed

    def path(self, token: str) -> list[int]:
        """The tokens ``token`` is built from: its characters (BPE tokenizers such as the one
        transformers makes of a GGUF start from vocabulary pieces, not characters) and every
        token formed while merging them, itself included."""
        return [self.index[c] for c in dict.fromkeys(token) if c in self.index] + self._merge(
            token
        )[1]

    def tokenize(self, text: str) -> list[int]:
        """``text`` (with no special or user-defined tokens in it) as llama.cpp tokenizes it:
        spaces as ``▁``, a character that is no token as its UTF-8 bytes."""
        ids = []
        for piece in self._merge(text.replace(" ", "\u2581"))[0]:
            token = self.index.get(piece)
            ids += [token] if token is not None else [self.bytes[b] for b in piece.encode()]
        return ids


def exemplar_texts(exemplars: Iterable[dict]) -> list[str]:
    """What of the exemplars a kept set must cover: their titles and texts, each at the start
    of a line and after a space (``Title: {title}``), which tokenize differently."""
    return [
        text
        for e in exemplars
        for part in (e.get("title") or "", e["text"])
        for text in (part, " " + part)
    ]


def english_share(
    texts: Iterable[str], zipf: float | None = None, lookup: Callable[[str], float] | None = None
) -> float | None:
    """Share of the alphabetic words of ``texts`` that wordfreq knows as English at Zipf
    frequency ``zipf`` or more (default ``ENGLISH_ZIPF``); None when there are no words.

    What ``vocab=auto`` decides by: the kept set is the exemplars' tokens plus the commonest
    English ones, so it serves documents in the exemplars' language only when that language
    is English (other languages' words come apart into short pieces and byte tokens). The
    Zipf frequencies are wordfreq's, from the shipped list (``english.py``), exact above its
    floor; ``lookup`` (a word's Zipf frequency, e.g. wordfreq's own) replaces it."""
    found = [w for text in texts for w in WORD.findall(text.lower()) if w.isalpha()]
    if not found:
        return None
    threshold = ENGLISH_ZIPF if zipf is None else zipf
    if lookup is None and threshold <= english.floor():
        raise ZestError(
            f"a Zipf threshold must lie above {english.floor()}, the shipped English word"
            f" list's least frequent word; {threshold} asked for"
        )
    zipfs = {w: (lookup or english.zipf)(w) for w in set(found)}
    return sum(zipfs[w] >= threshold for w in found) / len(found)


def english_sample(n_words: int = ENGLISH_WORDS) -> list[tuple[str, float]]:
    """``(text, weight)`` renderings of wordfreq's most frequent English words (the shipped
    list, ``english.py``): lower case and capitalised, after a space and at the start of a line,
    weighted by the word's frequency."""
    sample = []
    for word, frequency in english.top_words(n_words):
        for form, share, *case in VARIANTS:
            sample.append((form.format(case[0](word) if case else word), frequency * share))
    return sample


def token_weights(tokenize, sample: Iterable[tuple[str, float]]) -> Counter:
    """Summed weight of every token id in the tokenized sample."""
    weights: Counter = Counter()
    for text, weight in sample:
        for token in tokenize(text):
            weights[token] += weight
    return weights


def ranked_tokens(tokenize, sample: Iterable[tuple[str, float]]) -> list[int]:
    """The sample's token ids, heaviest first (ties by id)."""
    weights = token_weights(tokenize, sample)
    return [token for token, _ in sorted(weights.items(), key=lambda tw: (-tw[1], tw[0]))]


def english_ranking(vocab: Vocab, cache: Path, source_sha: str) -> list[int]:
    """``ranked_tokens`` of the English sample for one model, computed once into ``cache``.

    It is the same for every exemplar set (about 6 s of a 13 s build on 2 cores), so only the
    first trimmed copy of a model pays for it; keyed by the model's SHA-256 and everything the
    sample depends on."""
    spec = [FORMAT, ENGLISH_WORDS, repr(VARIANTS), english.source()]
    spec_sha = hashlib.sha256(json.dumps(spec).encode()).hexdigest()
    path = cache / f"english-{source_sha[:12]}-{spec_sha[:12]}.json"
    try:
        return json.loads(path.read_text())["ranked"]
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not there yet, or unreadable: computed again
    # Words hold no special tokens: merged in Python, 6x faster than llama.cpp's tokenizer,
    # which scans for each of the vocabulary's special tokens on every call.
    ranked = ranked_tokens(Merges(vocab).tokenize, english_sample())
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(path, json.dumps({"ranked": ranked}).encode())
    return ranked


def kept_ids(
    vocab: Vocab,
    tokenize,
    texts: Iterable[str],
    size: int = DEFAULT_SIZE,
    sample: Iterable[tuple[str, float]] | None = None,
    ranked: list[int] | None = None,
) -> list[int]:
    """The sorted ids to keep: required ones, every token of ``texts`` (with the tokens their
    merges pass through), then the ``ranked`` tokens (default: the sample's, heaviest first)
    while fewer than ``size``."""
    keep = required_ids(vocab)
    if size < len(keep):
        raise ZestError(
            f"a trimmed vocabulary needs at least {len(keep)} tokens (the special, "
            f"control and byte tokens); {size} asked for"
        )
    merges = Merges(vocab)

    def closure(ids: Iterable[int]) -> set[int]:
        return {
            j for i in ids if vocab.types[i] == NORMAL for j in [i, *merges.path(vocab.tokens[i])]
        } - keep

    keep |= closure(t for text in [*ASCII, *texts] for t in tokenize(text))
    if len(keep) > size:
        raise ZestError(
            f"the exemplars alone need {len(keep)} tokens; raise the vocabulary size above {size}"
        )
    if ranked is None:
        ranked = ranked_tokens(merges.tokenize, english_sample() if sample is None else sample)
    for token in ranked:
        more = closure([token])
        if len(keep) + len(more) <= size:
            keep |= more
        if len(keep) >= size:
            break
    return sorted(keep)


def kept_hash(ids: list[int]) -> str:
    return hashlib.sha256(json.dumps([FORMAT, ids]).encode()).hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def _stored_vocab(reader) -> Vocab:
    """The tokenizer arrays as stored, which the trimmed copy restricts."""
    model = _value(reader, "tokenizer.ggml.model")
    arrays = [_value(reader, key) for key in (TOKENS, SCORES, TYPES)]
    if model != "llama" or not all(arrays) or len({len(a) for a in arrays}) != 1:
        raise ZestError(
            f"cannot trim {reader.data.filename}: its tokenizer is "
            f"{model or 'missing'!r}, and only SentencePiece-style ('llama') "
            "vocabularies with scores and token types are supported"
        )
    id_keys = {}
    for name, field in reader.fields.items():
        if name.endswith(("_token_id", "_token_ids")):
            ids = field.contents()
            id_keys[name] = ids if isinstance(ids, list) else [ids]
    return Vocab(*arrays, id_keys)


def trim_gguf(source: str | os.PathLike, dest: str | os.PathLike, keep: list[int]) -> Path:
    """Write a copy of ``source`` that keeps the token ids ``keep`` (renumbered in order) to
    ``dest``, through a temporary file renamed at the end; ``source`` is only read."""
    reader = open_gguf(source)
    vocab = _stored_vocab(reader)
    keep = sorted(set(keep))
    if not keep or keep[0] < 0 or keep[-1] >= len(vocab):
        raise ZestError(f"kept token ids must lie in 0..{len(vocab) - 1}")
    missing = required_ids(vocab) - set(keep)
    if missing:
        raise ZestError(
            f"{len(missing)} special, byte or named tokens are not in the kept set "
            f"(first: id {min(missing)})"
        )
    new_id = {old: new for new, old in enumerate(keep)}
    kept_tokens = {vocab.tokens[i] for i in keep}
    arch = _value(reader, "general.architecture")
    changed = {
        TOKENS: [vocab.tokens[i] for i in keep],
        SCORES: [vocab.scores[i] for i in keep],
        TYPES: [vocab.types[i] for i in keep],
        f"{arch}.vocab_size": len(keep),
    }
    for key, ids in vocab.id_keys.items():
        if all(i in new_id for i in ids):
            changed[key] = [new_id[i] for i in ids]
    merges = _value(reader, MERGES)
    if merges:
        changed[MERGES] = [
            m for m in merges if {*m.split(" ", 1), m.replace(" ", "", 1)} <= kept_tokens
        ]

    for name in TRIMMED_TENSORS:
        rows = next((t.data.shape[0] for t in reader.tensors if t.name == name), len(vocab))
        if rows != len(vocab):
            raise ZestError(f"cannot trim {source}: {name} has {rows} rows for {len(vocab)} tokens")
    return copy_gguf(reader, dest, changed, dict.fromkeys(TRIMMED_TENSORS, keep))


def copy_gguf(
    reader,
    dest: str | os.PathLike,
    fields: dict,
    rows: dict[str, list[int]],
    tensors: dict[str, tuple] | None = None,
) -> Path:
    """Write ``reader``'s GGUF to ``dest`` with the metadata values in ``fields`` replaced (a
    one-element list stands for a scalar), the tensors in ``rows`` cut to those rows and those
    in ``tensors`` replaced by their (raw data, quantisation type), through a temporary file
    renamed into place once complete."""
    import gguf

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp, 0o666 & ~umask)  # mkstemp's 0600 would keep the cached model private
    try:
        writer = gguf.GGUFWriter(
            temp, _value(reader, "general.architecture"), endianess=reader.endianess
        )
        writer.data_alignment = reader.alignment
        for name, field in reader.fields.items():
            if name.startswith("GGUF.") or name == "general.architecture":
                continue  # written by GGUFWriter itself
            kind = field.types[0]
            sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
            value = fields.get(name, field.contents())
            if sub is None and isinstance(value, list):
                (value,) = value
            writer.add_key_value(name, value, kind, sub_type=sub)
        replaced, written = tensors or {}, []
        for tensor in reader.tensors:
            data, kind = replaced.get(tensor.name, (tensor.data, tensor.tensor_type))
            if tensor.name in rows:
                data = data[rows[tensor.name]]  # quantised blocks never span two rows
            written.append(data)
            writer.add_tensor_info(tensor.name, data.shape, data.dtype, data.nbytes, kind)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for data in written:
            writer.write_tensor_data(data, tensor_endianess=reader.endianess)
        writer.fout[0].flush()
        os.fsync(writer.fout[0].fileno())
        writer.close()
        os.replace(temp, dest)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return dest


def trimmed_model(
    source: str | os.PathLike,
    texts: Iterable[str],
    size: int = DEFAULT_SIZE,
    cache_dir: str | os.PathLike | None = None,
) -> dict:
    """The trimmed copy of ``source`` keeping ``texts``' tokens, built once into the user cache
    directory and named by the source's SHA-256 and the kept set's; returns what provenance
    records. A small record, keyed by everything the kept set depends on, spares later runs
    the half minute of choosing it again."""
    import platformdirs

    from zest_core import stderr

    texts = list(texts)
    cache = Path(cache_dir or platformdirs.user_cache_dir("zest")) / "trimmed"
    stem, source_sha = Path(source).stem, file_sha256(source)
    spec = [FORMAT, size, ENGLISH_WORDS, english.source(), texts]
    spec_sha = hashlib.sha256(json.dumps(spec).encode()).hexdigest()
    record = cache / f"{stem}-{source_sha[:12]}-{spec_sha[:12]}.json"
    if record.exists():
        info = json.loads(record.read_text())
        if Path(info["path"]).exists():
            _touch(Path(info["path"]))  # recently used: the last to be evicted
            return info
    with stderr.status(f"llama-cpp: choosing {size:,} tokens to keep from {Path(source).name}"):
        vocab, tokenize = read_vocab(source)
        keep = kept_ids(
            vocab, tokenize, texts, size, ranked=english_ranking(vocab, cache, source_sha)
        )
    kept_sha = kept_hash(keep)
    dest = cache / f"{stem}-{source_sha[:12]}-{kept_sha[:12]}.gguf"
    if not dest.exists():  # renamed into place only once complete
        with stderr.status(f"llama-cpp: writing the trimmed copy {dest}"):
            trim_gguf(source, dest, keep)
    info = {
        "path": str(dest),
        "source_sha256": source_sha,
        "kept_sha256": kept_sha,
        "size": len(keep),
        "source_size": len(vocab),
        "bytes": dest.stat().st_size,
    }
    _write_atomic(record, json.dumps(info).encode())
    _touch(dest)
    evict(cache, keep=CACHED_COPIES)
    return info


def _touch(path: Path) -> None:
    try:
        os.utime(path)
    except OSError:  # a read-only or shared cache: eviction order is only a preference
        pass


def evict(cache: Path, keep: int = CACHED_COPIES) -> list[Path]:
    """Delete all but the ``keep`` most recently used trimmed copies in ``cache`` (a copy is
    marked used when built or reused), with the records that point to them; return the deleted
    copies. A process still running a deleted copy keeps its mapping (the file goes when it is
    closed); a later run whose record points to a deleted copy builds it again."""
    copies = sorted(cache.glob("*.gguf"), key=_mtime, reverse=True)
    gone = copies[keep:]
    if not gone:
        return []
    names = {path.name for path in gone}
    for record in cache.glob("*.json"):
        try:
            name = Path(json.loads(record.read_text())["path"]).name
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if name in names:
            record.unlink(missing_ok=True)
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # deleted meanwhile by another process's eviction
        return 0.0


def _write_atomic(path: Path, data: bytes) -> None:
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


__all__ = [
    "DEFAULT_SIZE",
    "Merges",
    "Vocab",
    "copy_gguf",
    "evict",
    "english_ranking",
    "english_sample",
    "english_share",
    "exemplar_texts",
    "file_sha256",
    "kept_hash",
    "kept_ids",
    "open_gguf",
    "ranked_tokens",
    "read_vocab",
    "required_ids",
    "trim_gguf",
    "trimmed_model",
]
