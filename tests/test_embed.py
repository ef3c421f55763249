"""zest embed -> zest index -> zest search on a real SciFact slice, against zest eval's
scoring; resume after SIGKILL; the Ray Data path; and bad input. Real Parquet files, a real
usearch index, the real MiniLM model, real ``zest`` processes."""

import json
import shutil
import signal
import subprocess
import sys
import time
from itertools import islice
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import beir, clean_exit
from test_evaluate import make_beir_slice

from zest_core.cli import cli
from zest_core.contexts.encoding import context_state, make_encoder, resolve_context
from zest_core.contexts.scoring import _Search, load_beir
from zest_core.corpus.export import umask_mode
from zest_core.search.indexing import BM25_PARTS

FAST = {"max_seq_length": 48}  # short inputs keep the real model quick on a shared CPU
OPTIONS = [arg for key, value in FAST.items() for arg in ("-o", f"{key}={value}")]
N_QUERIES = 30


def complete_version(store, texts, status="complete") -> int:
    """A version of ``texts``, as complete (or not) as the store checks."""
    version = store.create_version("ctx", kind="run", config={}, target_docs=len(texts))
    for i, text in enumerate(texts):
        store.add_document(version, i, text)
    store.finish(version, status, 1.0)
    return version


def zest(*args, check=True, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-c", "from zest_core.cli import main; main()", *map(str, args)],
        capture_output=True,
        text=True,
        **kwargs,
    )
    if check and done.returncode:
        raise AssertionError(done.stderr)
    return done


def error_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A SciFact slice (30 queries, ~600 documents), a context version of other SciFact
    documents in a real store, and the slice embedded and indexed by the real commands."""
    from zest_core.corpus.store import Store

    root = tmp_path_factory.mktemp("embed")
    sliced = make_beir_slice(root / "scifact-slice", n_queries=N_QUERIES, n_others=570)
    slice_ids = {json.loads(line)["_id"] for line in (sliced / "corpus.jsonl").open()}
    others = []
    for line in (beir("scifact") / "corpus.jsonl").open():
        row = json.loads(line)
        if row["_id"] not in slice_ids:
            others.append(f"{row['title']} {row['text']}")
        if len(others) == 150:
            break
    db = root / "zest.db"
    version = complete_version(Store(db), others)
    out = root / "embedded"
    zest(
        "embed",
        sliced / "corpus.jsonl",
        "--context",
        version,
        "--out",
        out,
        "--shard-size",
        256,
        "--db",
        db,
        *OPTIONS,
    )
    zest("index", out)
    return {"beir": sliced, "db": db, "version": version, "out": out, "root": root}


@pytest.mark.slow
def test_search_returns_zest_evals_top_10(world):
    """The index's top-10 = zest eval's scoring (the hybrid, context statistics,
    standardised over every document) on the same slice."""
    from zest_core.corpus.store import Store

    store = Store(world["db"])
    data = load_beir(world["beir"])
    encoder = make_encoder("hybrid", **FAST)
    context = resolve_context(store, str(world["version"]), encoder)
    encoder.use(context_state(store, encoder, context)[0])
    search = _Search(store, encoder, data, context, {})
    search.index({"id": list(data.corpus)})
    queries = {"id": list(data.queries), "text": list(data.queries.values())}
    expected = search.search(queries, top_k=10)
    done = zest(
        "search",
        world["out"] / "index",
        *queries["text"],
        "--top-k",
        10,
        "--json",
        "--context",
        world["version"],
        "--db",
        world["db"],
        *OPTIONS,
    )
    results = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["query"] for r in results] == queries["text"]
    for query_id, result in zip(queries["id"], results):
        want = sorted(expected[query_id].items(), key=lambda item: -item[1])
        assert [hit["id"] for hit in result["hits"]] == [doc for doc, _ in want]
        assert [hit["score"] for hit in result["hits"]] == pytest.approx(
            [score for _, score in want], abs=1e-4
        )
    # and without --context: the index's own encoder and context, the same answer (the
    # query alone, not in a batch of 30: padding moves float32 sums in the last bits)
    again = json.loads(zest("search", world["out"] / "index", queries["text"][0], "--json").stdout)[
        "hits"
    ]
    assert [hit["id"] for hit in again] == [hit["id"] for hit in results[0]["hits"]]
    assert [hit["score"] for hit in again] == pytest.approx(
        [hit["score"] for hit in results[0]["hits"]], abs=1e-5
    )
    # a narrow search (10 candidates a side, graph breadth 10) still ranks exactly here:
    # the threshold bound scores every document that could enter the top 10
    narrow = zest(
        "search",
        world["out"] / "index",
        queries["text"][0],
        "--json",
        "--candidates",
        10,
        "--expansion",
        10,
    )
    assert [hit["id"] for hit in json.loads(narrow.stdout)["hits"]] == [hit["id"] for hit in again]
    for flag in ("--top-k", "--candidates", "--expansion"):
        done = zest("search", world["out"] / "index", "q", flag, 0, check=False)
        assert f"{flag} must be at least 1" in error_line(done)


@pytest.mark.slow
def test_embed_output_records_what_the_vectors_depend_on(world):
    meta = json.loads((world["out"] / "meta.json").read_text())
    assert meta["complete"] and meta["count"] == len(
        (world["beir"] / "corpus.jsonl").read_text().splitlines()
    )
    assert meta["encoder"] == "hybrid" and meta["options"]["max_seq_length"] == 48
    assert meta["context"]["label"].startswith(f"version {world['version']}")
    table = pq.read_table(world["out"] / meta["shards"][0])
    assert table.column_names == ["id", "dense", "sparse_indices", "sparse_weights"]
    assert table.num_rows == 256 and len(table.column("dense")[0]) == 384
    assert not list(world["out"].glob(".*.tmp"))


@pytest.mark.slow
def test_index_refuses_another_context_or_encoder(world, tmp_path):
    from zest_core.corpus.store import Store

    other = complete_version(Store(world["db"]), ["a different context about cells"])
    index = world["out"] / "index"
    line = error_line(
        zest(
            "search", index, "cells", "--context", other, "--db", world["db"], *OPTIONS, check=False
        )
    )
    assert f"built with context 'version {world['version']}" in line
    assert f"not 'version {other}" in line
    line = error_line(zest("search", index, "cells", "--encoder", "dense", check=False))
    assert "built with encoder 'hybrid', not 'dense'" in line
    line = error_line(zest("search", index, "cells", "-o", "weight=0.5", check=False))
    assert "weight=0.7 there, 0.5 asked" in line
    # an index written by another version of zest's index format is refused, not misread
    old = tmp_path / "old-index"
    shutil.copytree(index, old)
    meta = json.loads((old / "meta.json").read_text())
    (old / "meta.json").write_text(json.dumps({**meta, "index_format": 1}))
    line = error_line(zest("search", old, "cells", check=False))
    assert "format 1, not 2" in line and "build it again with zest index" in line


@pytest.mark.slow
def test_missing_shard_and_unfinished_output_are_refused(world, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(world["out"], broken, ignore=shutil.ignore_patterns("index"))
    (broken / "shard-00001.parquet").unlink()
    line = error_line(zest("index", broken, check=False))
    assert "lacks shard shard-00001.parquet" in line and not (broken / "index").exists()
    meta = json.loads((broken / "meta.json").read_text())
    (broken / "meta.json").write_text(json.dumps({**meta, "complete": False}))
    assert "is not complete" in error_line(zest("index", broken, check=False))


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """48 SciFact texts embedded by the hybrid (no context) in 3 shards and indexed: the real
    files that the damage tests below truncate copies of. ``args``: zest embed's, less --out."""
    root = tmp_path_factory.mktemp("small")
    source = root / "docs.txt"
    corpus = (beir("scifact") / "corpus.jsonl").open()
    texts = [json.loads(line)["text"].replace("\n", " ") for line in islice(corpus, 48)]
    source.write_text("".join(text + "\n" for text in texts))
    args = [source, "--context", "none", "--shard-size", 16, "--db", root / "z.db", *OPTIONS]
    zest("embed", *args, "--out", root / "out")
    zest("index", root / "out")
    return {"args": args, "out": root / "out"}


def truncate(path: Path) -> bytes:
    """Cut the file at ``path`` to half its length, as a full disk or a killed copy would;
    returns what it held."""
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    return whole


def cli_error(*args) -> str:
    """The one ``Error:`` line of ``zest ARGS`` run in-process, which must fail cleanly."""
    output = clean_exit(CliRunner().invoke(cli, [str(a) for a in args]), 1)
    return next(line for line in output.splitlines() if line.startswith("Error:"))


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for a folder)."""
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
    }


@pytest.mark.slow
@pytest.mark.parametrize("force", [[], ["--force"]], ids=["", "force"])
@pytest.mark.parametrize("form", ["user folder", "the input", "..", ".", "/dev/full"])
def test_index_out_never_replaces_what_zest_did_not_make(small, tmp_path, monkeypatch, form, force):
    """``zest index --out`` deleted DIR recursively: a folder of the user's files, the shards
    it reads, the parent (``..``); ``.`` was a traceback; ``/dev/full`` left a building
    folder in /dev. Each is now refused with one line, and nothing is touched or made."""
    work = tmp_path / "work"
    emb = work / "emb"
    shutil.copytree(small["out"], emb, ignore=shutil.ignore_patterns("index"))
    keep = work / "keep"
    (keep / "sub").mkdir(parents=True)
    (keep / "thesis.txt").write_text("x\n")
    cwd, out = {
        "user folder": (work, "keep"),
        "the input": (work, "emb"),
        "..": (emb, ".."),
        ".": (keep, "."),
        "/dev/full": (work, "/dev/full"),
    }[form]
    monkeypatch.chdir(cwd)
    before = _tree(work)
    line = cli_error("index", emb, "--out", out, *force)
    assert "choose a new folder" in line, line
    assert _tree(work) == before and not list(Path("/dev").glob(".full*"))


@pytest.mark.slow
def test_index_replaces_its_own_index_only_with_force(small, tmp_path):
    emb = tmp_path / "emb"
    shutil.copytree(small["out"], emb, ignore=shutil.ignore_patterns("index"))
    out = tmp_path / "idx"
    out.mkdir()  # an empty folder holds nothing to lose
    clean_exit(CliRunner().invoke(cli, ["index", str(emb), "--out", str(out)]))
    assert (out / ".zest-made").is_file() and (out / "dense.usearch").is_file()
    assert "add --force to replace it" in cli_error("index", emb, "--out", out)
    clean_exit(CliRunner().invoke(cli, ["index", str(emb), "--out", str(out), "--force"]))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emb", "idx"]  # no leftovers
    (out / ".zest-made").write_text('{"made_by": "zest", "kind": "dataset export"}')
    assert "is a zest dataset export, not an index" in cli_error(
        "index", emb, "--out", out, "--force"
    )


INDEX_FILES = ["dense.usearch", "vectors.npy", "ids.npy", "moments.npz", "terms.npy"]
INDEX_FILES += [f"bm25-{part}.npy" for part in BM25_PARTS] + ["context.npz"]


@pytest.mark.slow
@pytest.mark.parametrize("name", INDEX_FILES)
def test_search_on_a_truncated_index_file_names_it(small, tmp_path, name):
    """Each was numpy's or usearch's ValueError traceback."""
    index = tmp_path / "index"
    shutil.copytree(small["out"] / "index", index)
    truncate(index / name)
    line = cli_error("search", index, "vitamin D and bone density")
    assert f"{index / name} is damaged" in line and "run zest index again" in line


@pytest.mark.slow
@pytest.mark.parametrize("queries", [[""], ["   "], ["vitamin D", "\t\n"]])
def test_empty_query_is_refused(small, queries):
    """An empty query was ranked (every document scored against no terms)."""
    line = cli_error("search", small["out"] / "index", *queries)
    assert f"query {len(queries)} is empty" in line


@pytest.mark.slow
def test_resume_rewrites_a_damaged_shard_and_index_refuses_it(small, tmp_path):
    """Resume kept a truncated shard (status 0, all shards counted done) and zest index then
    failed on it; now the shard's recorded rows and SHA-256 are checked."""
    out = tmp_path / "out"
    shutil.copytree(small["out"], out, ignore=shutil.ignore_patterns("index"))
    shard = out / "shard-00001.parquet"
    truncate(shard)
    line = error_line(zest("index", out, check=False))
    assert f"{shard} is damaged" in line and "run the same zest embed again" in line
    kept = {p.name: p.stat().st_mtime_ns for p in out.glob("shard-*.parquet") if p != shard}
    done = zest("embed", *small["args"], "--out", out)
    assert f"{shard} is damaged" in done.stderr and "writing it again" in done.stderr
    assert pq.read_table(shard).equals(pq.read_table(small["out"] / shard.name))
    assert {name: (out / name).stat().st_mtime_ns for name in kept} == kept  # intact: kept
    assert oct(shard.stat().st_mode & 0o777) == oct(umask_mode(0o666))  # as open() makes it
    zest("index", out)


def _tables(directory: Path):
    meta = json.loads((directory / "meta.json").read_text())
    table = __import__("pyarrow").concat_tables(
        pq.read_table(directory / name) for name in meta["shards"]
    )
    return meta, table.sort_by("id")


@pytest.mark.slow
def test_killed_embed_resumes_to_identical_shards(tmp_path):
    source = tmp_path / "docs.txt"
    scifact = make_beir_slice(tmp_path / "s", n_queries=5, n_others=100) / "corpus.jsonl"
    source.write_text(
        "".join(json.loads(line)["text"].replace("\n", " ") + "\n" for line in scifact.open())
    )
    args = [source, "--context", "none", "--shard-size", 16, "--db", tmp_path / "z.db", *OPTIONS]
    whole = tmp_path / "whole"
    zest("embed", *args, "--out", whole)
    killed = tmp_path / "killed"
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from zest_core.cli import main; main()",
            "embed",
            *map(str, args),
            "--out",
            str(killed),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while len(list(killed.glob("shard-*.parquet"))) < 2 and time.monotonic() < deadline:
        assert process.poll() is None, "finished before it could be killed"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    meta = json.loads((killed / "meta.json").read_text())
    assert not meta["complete"]  # nothing presented as whole
    written = sorted(p.name for p in killed.glob("shard-*.parquet"))
    assert 2 <= len(written) < 7
    line = error_line(zest("index", killed, check=False))
    assert "not complete" in line
    zest("embed", *args, "--out", killed)
    for name in written:  # finished shards were skipped, not rewritten
        assert (killed / name).stat().st_mtime_ns <= (killed / written[-1]).stat().st_mtime_ns
    for name in json.loads((whole / "meta.json").read_text())["shards"]:
        assert pq.read_table(killed / name).equals(pq.read_table(whole / name)), name
    assert {k: v for k, v in _tables(killed)[0].items() if k != "input"} == {
        k: v for k, v in _tables(whole)[0].items() if k != "input"
    }


@pytest.mark.slow
def test_ray_data_path_writes_what_zest_embed_writes(tmp_path):
    ray = pytest.importorskip("ray")
    import zest_core as zest
    from zest_core.search.shards import embed, embed_with_ray

    corpus = make_beir_slice(tmp_path / "s", n_queries=3, n_others=40) / "corpus.jsonl"
    rows = [json.loads(line) for line in corpus.open()]
    encoder = zest.load_encoder("hybrid", context=[r["text"] for r in rows[::3]], **FAST)
    embed(encoder, corpus, tmp_path / "local", shard_size=16)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        dataset = ray.data.from_items(
            [{"id": r["_id"], "text": f"{r['title']} {r['text']}".strip()} for r in rows]
        )
        embed_with_ray(encoder, dataset, tmp_path / "ray", shard_size=16)
    finally:
        ray.shutdown()
    (local_meta, local), (ray_meta, by_ray) = _tables(tmp_path / "local"), _tables(tmp_path / "ray")
    assert by_ray.num_rows == len(rows) and by_ray.schema == local.schema
    assert by_ray.column("id").to_pylist() == local.column("id").to_pylist()
    for column in ("sparse_indices", "sparse_weights"):
        assert by_ray.column(column).equals(local.column(column))
    import numpy as np

    dense = [np.array(t.column("dense").to_pylist()) for t in (local, by_ray)]
    # batches differ in padding, which moves float32 sums in the last bits
    assert np.abs(dense[0] - dense[1]).max() < 1e-5
    for key in ("encoder", "settings", "context", "count"):
        assert ray_meta[key] == local_meta[key]
    assert zest_index_reads(tmp_path / "ray")


def zest_index_reads(directory: Path) -> bool:
    zest("index", directory)
    return (directory / "index" / "dense.usearch").is_file()


def embed_dense(tmp_path, source, check=True) -> subprocess.CompletedProcess:
    """``zest embed SOURCE`` with the dense encoder and no context into ``tmp_path/out``."""
    out, db = tmp_path / "out", tmp_path / "z.db"
    args = ("--context", "none", "--out", out, "--db", db, "--encoder", "dense", *OPTIONS)
    return zest("embed", source, *args, check=check)


def embed_error(tmp_path, source, context):
    """The one ``Error:`` line of ``zest embed SOURCE`` into ``tmp_path/out``, which must fail."""
    out, db = tmp_path / "out", tmp_path / "z.db"
    return error_line(
        zest("embed", source, "--context", context, "--out", out, "--db", db, check=False)
    )


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"text": "fine"}\n{"text": "fine"}\n{"text": broken\n', "line 3: not valid JSON"),
        ('{"text": "fine"}\n{"title": "no text"}\n', "line 2: expected an object with a 'text'"),
        ("", "has no documents"),
    ],
)
def test_malformed_input_is_named_and_nothing_written(tmp_path, content, message):
    source = tmp_path / "in.jsonl"
    source.write_text(content)
    line = embed_error(tmp_path, source, "none")
    assert message in line and not (tmp_path / "out").exists()


def test_incomplete_context_is_refused(tmp_path):
    from zest_core.corpus.store import Store

    source = tmp_path / "in.txt"
    source.write_text("one document\n")
    version = complete_version(Store(tmp_path / "z.db"), ["a context"], status="running")
    line = embed_error(tmp_path, source, version)
    assert "not complete" in line and not (tmp_path / "out").exists()


def test_parquet_input_without_text_column(tmp_path):
    import pyarrow as pa

    source = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": ["a"], "body": ["x"]}), source)
    line = embed_error(tmp_path, source, "none")
    assert "no 'text' column (columns: body, id)" in line


def test_output_of_another_run_is_refused(tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("first document\nsecond document\n")
    embed_dense(tmp_path, source)
    source.write_text("other words\n")
    line = error_line(embed_dense(tmp_path, source, check=False))
    assert "holds embeddings of another run (input_sha256 differs" in line


def test_parquet_input_and_dense_index(tmp_path):
    """Parquet in, a dense-only encoder: plain cosine ranking from the index."""
    import pyarrow as pa

    source = tmp_path / "in.parquet"
    pq.write_table(
        pa.table(
            {
                "_id": ["a", "b", "c"],
                "title": ["", "Statins", ""],
                "text": ["vitamin D and bones", "lower cholesterol", "the weather today"],
            }
        ),
        source,
    )
    embed_dense(tmp_path, source)
    table = pq.read_table(tmp_path / "out" / "shard-00000.parquet")
    assert table.column_names == ["id", "dense"]
    zest("index", tmp_path / "out")
    done = zest("search", tmp_path / "out" / "index", "cholesterol drugs", "--top-k", 2)
    lines = done.stdout.splitlines()
    assert lines[0] == "cholesterol drugs" and lines[1].split()[-1] == "b"
    assert len(lines) == 3


def test_bm25_columns_are_written_shard_by_shard_as_scipy_would(tmp_path):
    """The two-pass, memory-mapped CSC build equals scipy's in-memory CSR-to-CSC on the
    same real Parquet shards (terms in several shards, rows of no terms, repeated ids)."""
    import numpy as np
    import pyarrow as pa
    from scipy.sparse import csr_matrix

    from zest_core.search.indexing import BM25_PARTS, _write_bm25

    rng = np.random.default_rng(0)
    shards, rows = [], []
    for number, n_rows in enumerate((7, 1, 12)):
        lengths = rng.integers(0, 6, n_rows)  # some rows have no terms at all
        terms = [
            np.sort(rng.choice([3, 9, 2**32 - 5, 77, 1000, 12], k, replace=False)) for k in lengths
        ]
        weights = [rng.random(k).astype(np.float32) for k in lengths]
        rows += list(zip(terms, weights))
        shards.append(tmp_path / f"shard-{number}.parquet")
        pq.write_table(
            pa.table(
                {
                    "sparse_indices": pa.array([t.astype(np.uint32) for t in terms]),
                    "sparse_weights": pa.array(weights),
                }
            ),
            shards[-1],
        )
    _write_bm25(shards, len(rows), tmp_path)
    built = [np.load(tmp_path / f"bm25-{part}.npy") for part in BM25_PARTS]
    terms = np.load(tmp_path / "terms.npy")
    every = np.concatenate([t for t, _ in rows]).astype(np.uint32)
    assert terms.tolist() == sorted(set(every.tolist()))
    expected = csr_matrix(
        (
            np.concatenate([w for _, w in rows]),
            np.searchsorted(terms, every),
            np.concatenate([[0], np.cumsum([len(t) for t, _ in rows])]),
        ),
        shape=(len(rows), len(terms)),
    ).tocsc()
    expected.sort_indices()
    for part, array in zip(BM25_PARTS, built):
        np.testing.assert_array_equal(array, getattr(expected, part), err_msg=part)
    assert built[1].dtype == built[2].dtype == np.int32  # scipy keeps them memory-mapped
