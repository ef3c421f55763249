"""The CLI over versions made by a real ``zest run``: filter, show, log, diff, top-up, rm."""

import json

import pytest
from click.testing import CliRunner
from conftest import SCIFACT_EXEMPLARS
from test_cli import fake_run, zest

from zest_core.cli import cli
from zest_core.corpus.store import Store


def filtered(db):
    """Run 1, and version 2 filtered from it by word overlap: the fake generator draws every
    document from the same 25 words, so single-word shingles make most of them copies."""
    fake_run(db)
    return zest(
        "filter",
        1,
        "--with",
        "exact-dedup",
        "--with",
        "near-dedup",
        "-o",
        "threshold=0.5",
        "-o",
        "near-dedup.shingle=1",
        "--db",
        db,
    )


def test_filter_show_log_diff_and_top_up(db_path):
    out = filtered(db_path).output
    store = Store(db_path)
    drops = store.db.execute_returning_dicts("SELECT * FROM drops WHERE version_id = 2")
    kept = store.documents(2)
    assert drops and kept and len(drops) + len(kept) == 8
    assert {(d["filter"], d["reason"]) for d in drops} == {("near-dedup", "near-duplicate")}
    assert all(float(d["detail"].split()[1]) >= 0.5 for d in drops)
    assert f"version 2 (scifact) from version 1: kept {len(kept)}, dropped {len(drops)}" in out
    assert store.version(2)["config"]["filters"][1]["settings"] == {
        "threshold": 0.5,
        "shingle": 1,
        "num_perm": 128,
        "recall_weight": 0.9,
        "seed": 1,
    }

    show = zest("corpora", "show", 2, "--db", db_path).output
    assert "near-dedup" in show and "near-duplicate" in show and f" {len(drops)} " in show

    diff = zest("corpora", "diff", 1, 2, "--db", db_path).output
    assert f"0 added, {len(drops)} removed, {len(kept)} in both" in diff
    assert "[near-dedup: near-duplicate (Jaccard" in diff
    as_json = json.loads(zest("corpora", "diff", 1, 2, "--json", "--db", db_path).output)
    assert {r["ordinal"] for r in as_json["removed"]} == {d["ordinal"] for d in drops}
    assert as_json["added"] == []

    listed = zest("corpora", "drops", 2, "--json", "--db", db_path).output.splitlines()
    ordinals = sorted(d["ordinal"] for d in drops)
    assert [json.loads(line)["ordinal"] for line in listed] == ordinals
    first = zest("corpora", "drops", 2, "--reason", "near-duplicate", "--db", db_path).output
    assert first.startswith(f"{ordinals[0]}  near-dedup: near-duplicate (Jaccard")
    assert zest("corpora", "drops", 2, "--filter", "quality", "--db", db_path).output == ""

    zest("run", "--top-up", 2, "--db", db_path)
    assert store.version(3)["kind"] == "top-up" and len(store.documents(3)) == 8
    back = json.loads(zest("corpora", "diff", 2, 3, "--json", "--db", db_path).output)
    assert len(back["added"]) == len(drops) and back["removed"] == []

    log = zest("corpora", "log", "--db", db_path).output.splitlines()
    assert log[0] == "scifact"
    assert log[1].startswith("1 run complete 8/8 docs") and "fake" in log[1]
    assert log[2].startswith(f"└─ 2 filter complete {len(kept)}/8 docs")
    assert (
        "exact-dedup() -> near-dedup(num_perm=128, recall_weight=0.9, seed=1, shingle=1,"
        " threshold=0.5)"
    ) in log[2]
    assert f"dropped {len(drops)} (near-duplicate {len(drops)})" in log[2]
    assert log[3].startswith("   └─ 3 top-up complete 8/8 docs")


def test_export_all_formats_of_a_filtered_version(db_path, tmp_path):
    pytest.importorskip("datasets")
    from datasets import load_from_disk

    filtered(db_path)
    texts = [d["text"] for d in Store(db_path).documents(2)]
    zest("corpora", "export", 2, "--format", "jsonl", "-o", tmp_path / "v2.jsonl", "--db", db_path)
    zest("corpora", "export", 2, "--format", "beir", "-o", tmp_path / "beir", "--db", db_path)
    zest("corpora", "export", 2, "--format", "hf", "-o", tmp_path / "hf", "--db", db_path)
    jsonl = [json.loads(line) for line in (tmp_path / "v2.jsonl").open()]
    beir = [json.loads(line) for line in (tmp_path / "beir" / "corpus.jsonl").open()]
    hf = load_from_disk(str(tmp_path / "hf"))
    assert [r["text"] for r in jsonl] == [r["text"] for r in beir] == hf["text"] == texts
    assert hf["id"] == [r["id"] for r in jsonl] == [r["_id"] for r in beir]


def test_rm_asks_and_refuses_versions_with_children(db_path):
    filtered(db_path)
    fake_run(db_path, "--name", "other")
    result = zest("corpora", "rm", 1, "--db", db_path, ok=False)
    assert result.exit_code == 1
    assert "version 1 has derived versions 2; add --recursive" in result.output
    rm = ["corpora", "rm", "--db", str(db_path)]
    result = CliRunner().invoke(cli, [*rm, "2"], input="n\n")
    assert result.exit_code == 1 and "nothing removed" in result.output
    store = Store(db_path)
    assert [v["id"] for v in store.versions()] == [1, 2, 3]

    result = CliRunner().invoke(cli, [*rm, "1", "--recursive"], input="y\n")
    assert result.exit_code == 0
    assert "Remove versions 1, 2 of corpus 'scifact'" in result.output
    assert [v["id"] for v in store.versions()] == [3]
    for table in ("documents", "anchors", "exemplars", "drops"):
        assert (
            store.db.execute(f"SELECT count(*) FROM {table} WHERE version_id != 3").fetchone()[0]
            == 0
        )
    assert [r["name"] for r in store.db["corpora"].rows] == ["other"]
    zest("corpora", "rm", 3, "--yes", "--db", db_path)
    assert store.versions() == []


@pytest.mark.parametrize(
    "args,message",
    [
        (["--with", "nope"], "unknown filter 'nope' (available: "),
        ([], "no filter given"),
        (
            ["--with", "quality", "-o", "min_words=many"],
            "option min_words for 'quality' must be a whole number (got 'many')",
        ),
        (
            ["--with", "quality", "-o", "threshold=0.9"],
            "option threshold is not an option of quality filter given with --with"
            " (options of quality: min_words, max_words, ngram,",
        ),
        (["--with", "quality", "-o", "shingle"], "not of the form key=value"),
        (
            ["--with", "near-dedup", "-o", "threshold=nan"],
            "option threshold for 'near-dedup' must be a finite number (got 'nan')",
        ),
        (
            ["--with", "quality", "-o", "min_words=-1"],
            "option min_words for 'quality' must be at least 0 (got '-1')",
        ),
    ],
)
def test_bad_filter_arguments(db_path, args, message):
    fake_run(db_path)
    result = zest("filter", 1, *args, "--db", db_path, ok=False)
    assert result.exit_code == 1 and message in result.output
    assert [v["id"] for v in Store(db_path).versions()] == [1]


def test_filtering_an_unfinished_run_is_refused(db_path):
    zest(
        "run",
        "--exemplars",
        SCIFACT_EXEMPLARS,
        "--generator",
        "fake",
        "-o",
        "fail_after=6",
        "--db",
        db_path,
        ok=False,
    )
    result = zest("filter", 1, "--with", "quality", "--db", db_path, ok=False)
    assert result.exit_code == 1
    assert (
        f"version 1 is failed, not complete (finish it with: zest run --resume 1 --db {db_path})"
        in result.output
    )
    assert len(Store(db_path).versions()) == 1
    result = zest("corpora", "log", "nope", "--db", db_path, ok=False)
    assert result.exit_code == 1 and "no corpus named 'nope'" in result.output
    result = zest("corpora", "drops", 1, "--db", db_path, ok=False)
    assert result.exit_code == 1 and "version 1 is a run version, not a filter" in result.output
