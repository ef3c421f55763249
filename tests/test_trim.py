"""The trimmed-vocabulary GGUF (plugins/zest_llama_cpp/trim.py) built from the real Gemma 3 270M.

One copy is built for the module (about a minute on a busy 2-core machine) into a temporary
cache directory, which the generator tests share through XDG_CACHE_HOME.
"""

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import llama_cpp
import numpy as np
import pytest
from conftest import ROOT, SCIFACT_EXEMPLARS, fake_cli

from zest_core import ZestError, default_gguf
from zest_core.corpus.exemplars import read_exemplars
from zest_llama_cpp import LlamaCppGenerator, native, trim

pytestmark = pytest.mark.model
CORPORA = [SCIFACT_EXEMPLARS, ROOT / "corpora" / "nfcorpus"]
SOURCE = default_gguf()
# Share of greedy steps whose full-model argmax is a dropped token: 1.0% (10 of 1,000) measured
# by benchmarks/trim.py (docs/trimmed-vocabulary.md); the bound leaves room for the 240 steps
# run here (2.4 expected, 12 allowed).
MAX_DROPPED = 0.05

spec = importlib.util.spec_from_file_location("bench_trim", ROOT / "benchmarks" / "trim.py")


def bench():
    """benchmarks/trim.py, whose agreement measure the test bounds."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(path))  # where platformdirs puts the user cache
        yield path


@pytest.fixture(scope="module")
def built(cache):
    exemplars = [e for corpus in CORPORA for e in read_exemplars([str(corpus)])]
    source_sha = trim.file_sha256(SOURCE)
    info = trim.trimmed_model(SOURCE, trim.exemplar_texts(exemplars))
    full, tokenize = trim.read_vocab(SOURCE)
    small, small_tokenize = trim.read_vocab(info["path"])
    index = {text: i for i, text in enumerate(full.tokens)}
    keep = [index[text] for text in small.tokens]
    return dict(
        info=info,
        full=full,
        tokenize=tokenize,
        small=small,
        small_tokenize=small_tokenize,
        keep=keep,
        source_sha=source_sha,
    )


def test_copy_keeps_special_and_byte_tokens_with_their_ids_remapped(built):
    info, full, small, keep = built["info"], built["full"], built["small"], built["keep"]
    assert info["size"] == len(small) == trim.DEFAULT_SIZE and info["source_size"] == len(full)
    assert keep == sorted(keep)  # kept tokens keep their order
    assert trim.file_sha256(SOURCE) == built["source_sha"] == info["source_sha256"]
    new_id = {old: new for new, old in enumerate(keep)}
    required = trim.required_ids(full)
    assert len(required) == 428  # 171 special/control/user-defined, 256 bytes, <mask>...
    for old in required:
        assert small.tokens[new_id[old]] == full.tokens[old]
        assert small.types[new_id[old]] == full.types[old]
    assert sum(t == trim.BYTE for t in small.types) == 256
    assert not any(trim.PLACEHOLDER.fullmatch(t) for t in small.tokens)
    assert set(small.id_keys) == set(full.id_keys)
    for key, (old,) in full.id_keys.items():  # bos, eos, unk, pad
        (new,) = small.id_keys[key]
        assert new == new_id[old] and small.tokens[new] == full.tokens[old]
    assert (
        full.tokens[2] == "<bos>"
        and small.tokens[small.id_keys["tokenizer.ggml.bos_token_id"][0]] == "<bos>"
    )


def test_fast_reader_reads_what_gguf_reader_reads():
    """open_gguf's reader (plain-array reads, 3.7x faster) against gguf-py's own, field by field
    and tensor by tensor, on the real model: a gguf release that changes what its private
    ``_get`` means, or stops calling it, fails here rather than writing a wrong copy or
    silently losing the speed."""
    import gguf

    fast, plain = trim.open_gguf(SOURCE), gguf.GGUFReader(SOURCE)
    assert type(fast) is not gguf.GGUFReader
    # the override ran: a release that renames ``_get`` would leave it unused (and slow)
    assert "_plain" in vars(fast)
    assert list(fast.fields) == list(plain.fields)
    for name, field in plain.fields.items():
        assert fast.fields[name].types == field.types, name
        assert fast.fields[name].contents() == field.contents(), name
    assert [(t.name, t.tensor_type, t.data.shape) for t in fast.tensors] == [
        (t.name, t.tensor_type, t.data.shape) for t in plain.tensors
    ]
    for mine, theirs in zip(fast.tensors, plain.tensors):
        assert np.array_equal(np.asarray(mine.data), np.asarray(theirs.data)), mine.name


def test_embedding_rows_are_copied_as_bytes(built):
    source, copy = trim.open_gguf(SOURCE), trim.open_gguf(built["info"]["path"])
    keep = built["keep"]
    big = {t.name: t for t in source.tensors}
    for tensor in copy.tensors:
        original = big.pop(tensor.name)
        assert tensor.tensor_type == original.tensor_type
        if tensor.name == "token_embd.weight":
            assert tensor.data.shape == (len(keep), original.data.shape[1])
            assert (tensor.data == original.data[keep]).all()
        else:
            assert (tensor.data == original.data).all()
    assert not big


def test_replaced_tensors_are_written_with_their_new_type_and_the_rest_as_bytes(built, tmp_path):
    """benchmarks/requant.py's path: one Q5_0 matrix re-quantised to Q8_0 through copy_gguf
    holds the same values (to Q8_0's step) and the model still loads and decodes."""
    from gguf import GGMLQuantizationType as Q
    from gguf import quants

    reader = trim.open_gguf(built["info"]["path"])
    target = next(t for t in reader.tensors if t.tensor_type == Q.Q5_0)
    values = quants.dequantize(target.data, Q.Q5_0)
    replaced = {target.name: (quants.quantize(values, Q.Q8_0), Q.Q8_0)}
    dest = trim.copy_gguf(reader, tmp_path / "q8.gguf", {}, {}, replaced)
    copy = {t.name: t for t in trim.open_gguf(dest).tensors}
    assert copy[target.name].tensor_type == Q.Q8_0
    again = quants.dequantize(copy[target.name].data, Q.Q8_0)
    assert np.abs(again - values).max() <= np.abs(values).max() / 127
    for tensor in reader.tensors:
        if tensor.name != target.name:
            assert copy[tensor.name].tensor_type == tensor.tensor_type
            assert (copy[tensor.name].data == tensor.data).all()
    llm = native.load(str(dest), n_ctx=128, n_threads=1, verbose=False)  # AMX-safe
    assert llm.n_vocab() == len(built["small"].tokens)
    out = llm.create_completion("The patients were", max_tokens=4, temperature=0)
    assert out["usage"]["completion_tokens"] >= 1


def exemplar_prompts():
    return [p for corpus in CORPORA for p in bench().exemplar_prompts(corpus, 4)]


def test_text_of_kept_tokens_tokenizes_to_the_same_pieces(built):
    keep, tokenize, small_tokenize = built["keep"], built["tokenize"], built["small_tokenize"]
    kept = set(keep)
    for prompt in exemplar_prompts():
        pieces = tokenize(prompt)
        assert set(pieces) <= kept  # the exemplars' and the templates' tokens were kept
        assert [keep[t] for t in small_tokenize(prompt)] == pieces
    # A word whose token was dropped still tokenizes, into kept pieces, and reads the same.
    dropped = next(
        t
        for t in built["full"].tokens[20000:]
        if re.fullmatch("\u2581[a-z]{9,}", t) and tokenize(t.replace("\u2581", " "))[0] not in kept
    )
    word = dropped.replace("\u2581", " ")
    small = llama_cpp.Llama(built["info"]["path"], vocab_only=True, verbose=False)
    assert len(small_tokenize(word)) > 1
    assert small.detokenize(small_tokenize(word)).decode() == word


def test_python_merges_tokenize_words_as_llama_cpp_does(built):
    merges = trim.Merges(built["full"])
    words = [text for text, _ in trim.english_sample(3000)]
    assert [merges.tokenize(w) for w in words] == [built["tokenize"](w) for w in words]


@pytest.mark.slow
def test_greedy_continuations_match_where_the_full_argmax_is_kept(built):
    load = dict(n_ctx=2048, n_threads=1, verbose=False)
    full = native.load(SOURCE, **load)
    small = native.load(built["info"]["path"], **load)
    try:
        prompts = exemplar_prompts()[::4]  # a document prompt of each corpus
        counts = bench().agreement(full, small, built["keep"], prompts, steps=120)
    finally:
        full.close()
        small.close()
    assert counts["steps"] >= 200
    assert counts["differ"] == 0, counts
    assert counts["dropped"] <= MAX_DROPPED * counts["steps"], counts


@pytest.mark.slow
def test_transformers_loads_the_trimmed_gguf(built):
    for package in ("torch", "transformers", "gguf", "accelerate"):
        if importlib.util.find_spec(package) is None:
            pytest.skip(f"the transformers extra is not installed ({package} missing)")
    from zest_core.plugin.generation import Request
    from zest_transformers import TransformersGenerator

    gen = TransformersGenerator(built["info"]["path"], device="cpu")
    try:
        prompt = exemplar_prompts()[0]
        ids = gen.tokenizer(prompt)["input_ids"]
        assert ids == [2, *built["small_tokenize"](prompt)]
        assert gen.lm.get_input_embeddings().weight.shape[0] == trim.DEFAULT_SIZE
        done = gen.complete(Request(key=0, prompt=prompt, max_tokens=6, temperature=0, seed=0))
    finally:
        gen.close()
    small = native.load(built["info"]["path"], n_ctx=2048, n_threads=1, verbose=False)
    try:
        same = small.create_completion(prompt, max_tokens=6, temperature=0)["choices"][0]["text"]
    finally:
        small.close()
    assert done.completion_tokens == 6 and done.text == same


def test_generator_option_uses_the_cached_copy_and_records_it(built, cache):
    exemplars = [e for corpus in CORPORA for e in read_exemplars([str(corpus)])]
    gen = LlamaCppGenerator(vocab="trimmed", batch_size=1)
    try:
        gen.prepare(exemplars)
        prov = gen.provenance()
        assert gen.llm.n_vocab() == trim.DEFAULT_SIZE
    finally:
        gen.close()
    assert prov["trimmed"] == built["info"]  # found in the cache, not built again
    assert prov["path"] == SOURCE and prov["options"]["vocab"] == "trimmed"
    assert prov["trimmed"]["kept_sha256"] == trim.kept_hash(built["keep"])
    # The copy and one record of it (and the model's English ranking); other tests of the
    # module may have added copies of their own, so only this copy's files are counted.
    directory = cache / "zest" / "trimmed"
    copy = Path(prov["trimmed"]["path"])
    assert copy.parent == directory and copy.is_file()
    records = [
        p
        for p in directory.glob("*.json")
        if not p.name.startswith("english-") and json.loads(p.read_text())["path"] == str(copy)
    ]
    assert len(records) == 1
    source = prov["trimmed"]["source_sha256"][:12]
    assert len(list(directory.glob(f"english-{source}-*.json"))) == 1
    assert not any(".part" in p.name for p in directory.iterdir())


def tiny_run(db, templates, *args):
    """A real two-document ``zest run`` (one anchor, one worker) with the given exemplars and
    options."""
    return subprocess.run(
        fake_cli("run", *args, "--anchors", 1, "--docs", 2, "--templates", templates)
        + [str(a) for a in ("--db", db, "-o", "workers=1")],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_zest_run_with_a_trimmed_vocabulary(built, cache, tmp_path, short_templates):
    db = tmp_path / "z.db"
    english = ["--exemplars", CORPORA[0], "--exemplars", CORPORA[1], "--k", 10]
    done = tiny_run(db, short_templates, *english, "-o", "vocab=trimmed")
    assert done.returncode == 0, done.stderr
    from zest_core.corpus.store import Store

    version = Store(db).version(1)
    assert version["status"] == "complete"
    assert version["provenance"]["trimmed"]["kept_sha256"] == built["info"]["kept_sha256"]


@pytest.mark.parametrize("language", ["english", "german"])
def test_the_default_vocabulary_follows_the_exemplars_language(
    built, cache, tmp_path, short_templates, language
):
    """vocab=auto, the default: the English exemplars run on the trimmed copy built for them
    (the module's, found in the cache), German ones on the full model; the choice is one line
    on stderr and recorded in the version's resolved options."""
    from test_resolved import GERMAN

    from zest_core.corpus.store import Store

    if language == "english":
        exemplars = ["--exemplars", CORPORA[0], "--exemplars", CORPORA[1], "--k", 10]
    else:
        path = tmp_path / "de.jsonl"
        path.write_text("".join(json.dumps(e) + "\n" for e in GERMAN), encoding="utf-8")
        exemplars = ["--exemplars", path]
    db = tmp_path / "z.db"
    done = tiny_run(db, short_templates, *exemplars)
    assert done.returncode == 0, done.stderr
    vocab = "trimmed" if language == "english" else "full"
    chosen = [line for line in done.stderr.splitlines() if "vocab auto" in line]
    assert len(chosen) == 1 and chosen[0].startswith(f"llama-cpp: vocab auto -> {vocab}:")
    version = Store(db).version(1)
    assert version["config"]["options"] == {"workers": "1"}  # what was asked
    assert version["resolved"]["options"]["vocab"] == vocab  # what ran
    loaded = version["resolved"]["loaded"]
    if vocab == "trimmed":
        kept = {k: built["info"][k] for k in ("size", "kept_sha256")}
        assert loaded["trimmed"] == kept
    else:
        assert "trimmed" not in loaded and "trimmed" not in version["provenance"]


@pytest.fixture(scope="module")
def bad_ggufs(built, tmp_path_factory):
    """Copies of the (small) trimmed GGUF that the trimmer must refuse."""
    folder = tmp_path_factory.mktemp("bad")
    reader = trim.open_gguf(built["info"]["path"])
    small = built["small"]
    byte_free = [trim.NORMAL if t == trim.BYTE else t for t in small.types]
    files = {
        "bpe": trim.copy_gguf(
            reader,
            folder / "bpe.gguf",
            {"tokenizer.ggml.model": ["gpt2"], "tokenizer.ggml.merges": ["\u2581 t", "\u2581t he"]},
            {},
        ),
        "no-bytes": trim.copy_gguf(reader, folder / "nobytes.gguf", {trim.TYPES: byte_free}, {}),
    }
    data = (folder / "bpe.gguf").read_bytes()
    files["truncated"] = folder / "truncated.gguf"
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["garbage"] = folder / "garbage.gguf"
    files["garbage"].write_bytes(b"GGUF" + bytes(range(256)) * 64)
    return files


@pytest.mark.parametrize(
    "kind, message",
    [
        ("bpe", "only SentencePiece-style"),
        ("no-bytes", "0 of the 256 byte-fallback tokens"),
        ("truncated", "cannot read GGUF"),
        ("garbage", "cannot read GGUF"),
    ],
)
def test_bad_gguf_is_one_error_and_left_untouched(bad_ggufs, tmp_path, kind, message):
    path = bad_ggufs[kind]
    before = trim.file_sha256(path)
    with pytest.raises(ZestError, match=message):
        trim.trimmed_model(path, ["some text"], cache_dir=tmp_path)
    assert trim.file_sha256(path) == before
    assert not list(tmp_path.rglob("*.gguf*"))  # no copy, finished or half-written


def test_truncated_copy_cannot_be_trimmed_either(bad_ggufs, tmp_path):
    # The writer reads tensors too: a file whose vocabulary loads but whose data is cut short.
    with pytest.raises(ZestError, match="corrupt or truncated"):
        trim.trim_gguf(bad_ggufs["truncated"], tmp_path / "out.gguf", list(range(300)))
    assert list(tmp_path.iterdir()) == []


def test_cache_keeps_the_most_recently_used_copies(tmp_path):
    """Eviction on real files: the newest copies stay with their records, the older ones and
    the records naming them go, other files are left alone."""
    import os

    for i in range(5):
        copy = tmp_path / f"model-{i}.gguf"
        copy.write_bytes(b"GGUF")
        os.utime(copy, (1000 + i, 1000 + i))  # model-4 the most recently used
        (tmp_path / f"model-{i}.json").write_text(json.dumps({"path": str(copy)}))
    (tmp_path / "unrelated.json").write_text("not a record")
    (tmp_path / "model-9.gguf.x.part").write_bytes(b"")  # a build in progress

    gone = trim.evict(tmp_path, keep=2)

    assert sorted(p.name for p in gone) == ["model-0.gguf", "model-1.gguf", "model-2.gguf"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model-3.gguf",
        "model-3.json",
        "model-4.gguf",
        "model-4.json",
        "model-9.gguf.x.part",
        "unrelated.json",
    ]
    assert trim.evict(tmp_path, keep=2) == []


def test_a_second_exemplar_set_reuses_the_models_english_ranking(built, cache, monkeypatch):
    """The English ranking is the same for every exemplar set of a model: the first build
    stores it, later builds read it and choose the kept set a fresh ranking would give."""
    (stored,) = (cache / "zest" / "trimmed").glob("english-*.json")
    assert stored.name.startswith(f"english-{built['source_sha'][:12]}-")
    texts = trim.exemplar_texts(read_exemplars([str(CORPORA[1])])[:2])  # a new exemplar set
    ranked = trim.ranked_tokens(trim.Merges(built["full"]).tokenize, trim.english_sample())
    fresh = trim.kept_ids(built["full"], built["tokenize"], texts, ranked=ranked)

    def no_sample(*args, **kwargs):
        raise AssertionError("the English sample was ranked again")

    monkeypatch.setattr(trim, "english_sample", no_sample)
    info = trim.trimmed_model(SOURCE, texts)
    assert info["path"] != built["info"]["path"]  # a copy of its own
    assert info["kept_sha256"] == trim.kept_hash(fresh)
    # an unreadable ranking is computed again, not trusted
    stored.write_text("{")
    monkeypatch.undo()
    assert trim.english_ranking(built["full"], stored.parent, built["source_sha"]) == ranked
    assert json.loads(stored.read_text())["ranked"]


def test_reusing_a_cached_copy_marks_it_recently_used(built, cache):
    """The real cached copy: a reuse moves it to the front of the eviction order."""
    import os

    path = built["info"]["path"]
    os.utime(path, (1000, 1000))
    exemplars = [e for corpus in CORPORA for e in read_exemplars([str(corpus)])]
    again = trim.trimmed_model(SOURCE, trim.exemplar_texts(exemplars))
    assert again["path"] == path
    assert os.stat(path).st_mtime > 1000


def test_size_below_the_required_tokens_is_refused(built, tmp_path):
    with pytest.raises(ZestError, match="needs at least 428 tokens"):
        trim.kept_ids(built["full"], built["tokenize"], ["text"], size=400, sample=[])
    done = subprocess.run(
        fake_cli(
            "run",
            "--exemplars",
            CORPORA[0],
            "--anchors",
            1,
            "--docs",
            1,
            "--db",
            tmp_path / "z.db",
            "-o",
            "vocab=trimmed",
            "-o",
            "vocab_size=100",
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("Error: a trimmed vocabulary needs")
