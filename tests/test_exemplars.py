import json

import pytest
from click.testing import CliRunner
from conftest import SCIFACT_EXEMPLARS, beir, clean_exit

from zest_core import ZestError
from zest_core.cli import cli
from zest_core.corpus.exemplars import read_exemplars
from zest_core.corpus.selection import choose


def test_shipped_exemplars_are_five_real_scifact_documents():
    docs = read_exemplars([str(SCIFACT_EXEMPLARS)])
    assert len(docs) == 5
    corpus = {
        json.loads(line)["_id"]: json.loads(line)
        for line in (beir("scifact") / "corpus.jsonl").open()
    }
    for doc in docs:
        source_id = doc["source"].rsplit("#", 1)[1]
        assert corpus[source_id]["text"] == doc["text"]
        assert corpus[source_id]["title"] == doc["title"]


def test_beir_directory_is_sampled_down_to_k_with_the_seed():
    scifact = str(beir("scifact"))
    a = choose(read_exemplars([scifact]), k=5, seed=1)
    b = choose(read_exemplars([scifact]), k=5, seed=1)
    c = choose(read_exemplars([scifact]), k=5, seed=2)
    assert len(a) == 5 and a == b and a != c


def test_text_files_and_directories(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b.txt").write_text("Second document.\n")
    (tmp_path / "d" / "a.txt").write_text("First document.")
    (tmp_path / "d" / "notes.md").write_text("# Notes\n\nA note.")  # read since issue 34
    single = tmp_path / "one.text"  # a file given by name is text whatever its suffix
    single.write_text("  A plain file.  ")
    docs = read_exemplars([str(tmp_path / "d"), str(single)])
    assert [d["text"] for d in docs] == [
        "First document.", "Second document.", "# Notes\n\nA note.", "A plain file."
    ]  # fmt: skip
    assert all(d["title"] is None for d in docs)


def test_jsonl_with_and_without_titles(tmp_path):
    f = tmp_path / "x.jsonl"
    f.write_text('{"text": "alpha", "title": "A"}\n\n{"text": "beta"}\n')
    docs = read_exemplars([str(f)])
    assert [(d["title"], d["text"]) for d in docs] == [("A", "alpha"), (None, "beta")]


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "no exemplar documents found"),
        (b"   \n", "no exemplar documents found"),
        (b'{"text": "ok"}\n{broken\n', "line 2: not valid JSON"),
        (b'{"title": "no text"}\n', 'line 1: needs a non-empty "text" field'),
        (b'{"text": "caf\xe9"}\n', "line 1: not valid UTF-8 text"),
    ],
)
def test_bad_exemplar_files(tmp_path, content, message):
    f = tmp_path / "bad.jsonl"
    f.write_bytes(content)
    with pytest.raises(ZestError, match=message):
        read_exemplars([str(f)])


def test_missing_path(tmp_path):
    with pytest.raises(ZestError, match="exemplar path not found"):
        read_exemplars([str(tmp_path / "nope.jsonl")])


def test_duplicate_documents_in_a_pool_count_once(tmp_path, capsys):
    """One document in two files was two exemplars, so --k could choose it twice."""
    pool = tmp_path / "pool"
    pool.mkdir()
    (pool / "a.txt").write_text("Statins lower LDL cholesterol.\n")
    (pool / "b.txt").write_text("Statins lower LDL cholesterol.")
    (pool / "c.jsonl").write_text(
        '{"_id": "7", "text": "Vitamin D and bone density."}\n'
        '{"_id": "8", "title": "Again", "text": " Statins lower LDL cholesterol. "}\n'
    )
    docs = read_exemplars([str(pool)])
    assert [(d["text"], d["source"]) for d in docs] == [
        ("Statins lower LDL cholesterol.", str(pool / "a.txt")),  # the first kept
        ("Vitamin D and bone density.", f"{pool / 'c.jsonl'}#7"),
    ]
    assert "dropped 2 duplicate exemplars" in capsys.readouterr().err
    out = tmp_path / "picked.jsonl"
    args = ["exemplars", "pick", pool, "--k", 2, "--method", "random", "-o", out]
    result = CliRunner().invoke(cli, [str(a) for a in [*args, "--db", tmp_path / "z.db"]])
    assert "dropped 2 duplicate exemplars" in clean_exit(result)
    picked = [json.loads(line)["text"] for line in out.read_text().splitlines()]
    assert sorted(picked) == ["Statins lower LDL cholesterol.", "Vitamin D and bone density."]
