"""Bad input and broken paths: one ``Error:`` line and exit status 1, checked before any
version exists; Ctrl-C and SIGTERM; resume with changed options. Each case here was a
traceback, a silent acceptance or a stuck version before (issue #14)."""

import errno
import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest
from click.testing import CliRunner
from conftest import FAKE_RUN, SCIFACT_EXEMPLARS, fake_cli

from zest_core.cli import cli
from zest_core.corpus import pipeline
from zest_core.corpus.store import Store
from zest_core.errors import ZestError


def zest(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    # an uncaught exception is kept in result.exception, never in the output: check it
    assert isinstance(result.exception, (SystemExit, type(None))), result.exception
    return result


def one_error(result, message: str) -> None:
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1, result.output
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], lines


def run(db, *extra):
    return zest(*FAKE_RUN, "--db", db, *extra)


def versions(db):
    if not os.path.exists(db):
        return 0
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM versions").fetchone()[0]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--k", -3], "--k must be between 1 and"),
        (["--k", 0], "--k must be between 1 and"),
        (["--seed", 10**23], "--seed must be between 0 and 2**63-1"),
        (["--seed", -1], "--seed must be between 0 and 2**63-1"),
        (["--docs", 10**9], "--docs must be between 1 and 1,000,000"),
        (["--anchors", 10**9], "--anchors must be between 1 and --docs"),
        (["--name", ""], "--name must not be empty"),
        (["--name", "  "], "--name must not be empty"),
        (["--name", "42"], "all digits"),
        (["-o", "delay=nan"], "finite"),
        (["-o", "delay=inf"], "finite"),
    ],
)
def test_bad_run_settings_create_nothing(db_path, extra, message):
    one_error(run(db_path, *extra), message)
    assert versions(db_path) == 0


@pytest.mark.parametrize(
    "edit, message",
    [
        (("Title: {anchor}", "Title: {bogus}"), "unknown field {bogus}"),
        (("Title: {anchor}", "Title: {anchor"), "not a valid template"),
        (
            ('stop = ["\\nDocument", "\\nTitle:", "\\n\\n"]', 'stop = "Document"'),
            "stop must be a list of non-empty strings",
        ),
        (("max_tokens = 256", 'max_tokens = "256"'), "max_tokens must be a positive whole number"),
        (("temperature = 0.8", "temperature = nan"), "temperature must be a finite number"),
    ],
)
def test_bad_templates_fail_before_any_version(db_path, tmp_path, edit, message):
    from zest_anchors import TEMPLATES

    text = (TEMPLATES / "hierarchical.toml").read_text()
    doc = text.index("[document]")
    bad = tmp_path / "bad.toml"
    bad.write_text(text[:doc] + text[doc:].replace(*edit))
    assert text[doc:].replace(*edit) != text[doc:]
    one_error(run(db_path, "--templates", bad), message)
    assert versions(db_path) == 0


def test_empty_db_path_is_refused(tmp_path):
    one_error(run(""), "database path is empty")


def test_user_text_is_not_rich_markup(db_path):
    """A corpus named like markup and a document containing "[/INST]" print as themselves."""
    assert run(db_path, "--name", "[/x]").exit_code == 0
    store = Store(db_path)
    listing = zest("corpora", "list", "--db", db_path)
    assert listing.exit_code == 0 and "[/x]" in listing.output
    vid = store.create_version("[bold]c[/bold]", kind="run", config={}, target_docs=1)
    store.add_document(vid, 0, "Answer: [/INST] done [red]")
    shown = zest("corpora", "show", vid, "--db", db_path)
    assert shown.exit_code == 0, shown.output
    assert "[/INST] done [red]" in shown.output and "'[bold]c[/bold]'" in shown.output


@pytest.fixture
def complete(db_path):
    assert run(db_path).exit_code == 0
    return db_path


def test_export_paths(complete, tmp_path):
    db = complete
    one_error(
        zest("corpora", "export", 1, "-o", tmp_path / "missing" / "x.jsonl", "--db", db),
        "does not exist",
    )
    out = tmp_path / "x.jsonl"
    out.write_text("keep me\n")
    one_error(zest("corpora", "export", 1, "-o", out, "--db", db), "add --force")
    assert out.read_text() == "keep me\n"
    assert zest("corpora", "export", 1, "-o", out, "--force", "--db", db).exit_code == 0
    assert len(out.read_text().splitlines()) == 8
    one_error(
        zest("corpora", "export", 1, "-o", "/dev/full", "--force", "--db", db), "not a regular file"
    )
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "queries.jsonl").write_text("{}\n")
    one_error(
        zest("corpora", "export", 1, "--format", "beir", "-o", beir, "--db", db),
        "is a BEIR dataset with queries or qrels",
    )
    assert not (beir / "corpus.jsonl").exists()


@pytest.fixture
def umask():
    """``os.umask``, the process's umask restored after the test."""
    old = os.umask(0)
    os.umask(old)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("fmt", ["jsonl", "beir", "hf"])
@pytest.mark.parametrize("mask", [0o022, 0o007], ids=["022", "007"])
def test_exports_get_the_umasks_mode(complete, tmp_path, umask, fmt, mask):
    """Exports were -rw------- (tempfile's mode, kept by the rename) whatever the umask."""
    if fmt == "hf":
        pytest.importorskip("datasets")
    umask(mask)
    out = tmp_path / "export"
    assert zest("corpora", "export", 1, "--format", fmt, "-o", out, "--db", complete).exit_code == 0
    for path in [out, *(out.rglob("*") if out.is_dir() else ())]:
        made = 0o777 if path.is_dir() else 0o666  # what mkdir() and open() ask for
        assert oct(path.stat().st_mode & 0o777) == oct(made & ~mask), path


@pytest.mark.parametrize("existed", [False, True])
def test_beir_export_on_a_full_disk_leaves_what_it_found(complete, tmp_path, monkeypatch, existed):
    """A full disk left the BEIR directory behind, empty; one that was there stays."""

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    out = tmp_path / "beir"
    if existed:
        out.mkdir()
    monkeypatch.setattr(os, "fsync", disk_full)
    one_error(
        zest("corpora", "export", 1, "--format", "beir", "-o", out, "--db", complete),
        "No space left on device",
    )
    assert list(out.iterdir()) == [] if existed else not out.exists()


@pytest.mark.parametrize("seed", [-1, 2**63])
def test_exemplars_pick_refuses_the_seeds_run_refuses(tmp_path, seed):
    out = tmp_path / "picked.jsonl"
    one_error(
        zest("exemplars", "pick", SCIFACT_EXEMPLARS, "--k", 2, "--seed", seed, "-o", out),
        "--seed must be between 0 and 2**63-1",
    )
    assert not out.exists()


@pytest.mark.parametrize("wal_files", [True, False], ids=["with-wal-files", "closed-file"])
def test_read_only_database_is_one_error(complete, tmp_path, wal_files):
    """On a read-only filesystem reading still works and a write says why in one line. A
    file closed cleanly has no -wal and -shm beside it, and none can be made there: read
    commands open it read-only all the same (they said "unable to open database file")."""
    ro = tmp_path / "ro"
    ro.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(ro)]).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root) to make a read-only filesystem")
    try:
        if not wal_files:
            with sqlite3.connect(complete) as conn:  # all of it in the main file
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        names = [complete.name + end for end in ("", "-wal", "-shm")[: 3 if wal_files else 1]]
        for name in names:
            (ro / name).write_bytes((complete.parent / name).read_bytes())
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        db = ro / complete.name
        assert "scifact" in zest("corpora", "list", "--db", db).output
        for args in (["corpora", "show", 1], ["corpora", "log"], ["results"]):
            assert zest(*args, "--db", db).exit_code == 0, args
        out = tmp_path / "out.jsonl"
        assert zest("corpora", "export", 1, "-o", out, "--db", db).exit_code == 0
        assert len(out.read_text().splitlines()) == 8
        one_error(run(db), f"the zest database {db} is read-only (a read-only filesystem)")
        one_error(zest("corpora", "rm", 1, "-y", "--db", db), "read-only")
    finally:
        subprocess.run(["umount", "-l", str(ro)])


READERS = [
    ["corpora", "list"],
    ["corpora", "show", 1],
    ["corpora", "log"],
    ["corpora", "drops", 1],
    ["corpora", "diff", 1, 2],
    ["corpora", "export", 1, "-o", "out.jsonl"],
    ["results"],
    ["results", "diff", 1, 2],
    ["compare", 1],
]


@pytest.mark.parametrize("args", READERS, ids=lambda a: " ".join(map(str, a)))
def test_reading_commands_never_create_a_database(tmp_path, args):
    """A command that only reads, pointed at a missing file (a typo), says so; it made an
    empty database there before, and the directories above it."""
    for db in (tmp_path / "none.db", tmp_path / "nowhere" / "none.db"):
        one_error(zest(*args, "--db", db), f"no zest database at {db}")
    assert sorted(tmp_path.iterdir()) == []


def test_a_writer_does_not_create_the_directory_of_db(tmp_path):
    db = tmp_path / "nowhere" / "x.db"
    one_error(run(db), f"the directory of the zest database {db} does not exist")
    assert not db.parent.exists()


def test_eval_corpus_text_must_be_strings(tmp_path):
    from zest_core.contexts.beir import load_beir

    for bad in (None, 3):
        root = tmp_path / str(bad)
        (root / "qrels").mkdir(parents=True)
        (root / "corpus.jsonl").write_text(json.dumps({"_id": "d", "text": bad}) + "\n")
        (root / "queries.jsonl").write_text(json.dumps({"_id": "q", "text": "x"}) + "\n")
        (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq\td\t1\n")
        with pytest.raises(ZestError, match="'text' and 'title' must be strings"):
            load_beir(root)


def test_resume_applies_safe_changes_and_refuses_others(db_path):
    failed = run(db_path, "-o", "fail_after=6")
    assert failed.exit_code == 1
    one_error(
        zest("run", "--resume", 1, "--docs", 5, "--db", db_path),
        "--docs cannot be combined with --resume",
    )
    one_error(
        zest("run", "--resume", 1, "-o", "fail_after=-1", "--db", db_path),
        "-o fail_after cannot change on resume",
    )
    assert Store(db_path).version(1)["status"] == "failed"  # refusals touched nothing
    # delay is resume-safe: applied and recorded (fail_after=6 still holds: 6 more documents)
    done = zest("run", "--resume", 1, "-o", "delay=0.001", "--db", db_path)
    assert done.exit_code == 0, done.output
    config = Store(db_path).version(1)["config"]
    assert config["options"]["delay"] == "0.001"
    assert [c["options"] for c in config["changes"]] == [{"delay": "0.001"}]


def test_resume_of_an_unfinished_filter_is_a_clear_error(store):
    """An older zest could leave a running filter child; resuming it said KeyError."""
    parent = store.create_version("c", kind="run", config={})
    child = store.create_version("c", kind="filter", config={"filters": []}, parent_id=parent)
    store.finish(child, "failed", 0.0, error="interrupted")
    with pytest.raises(ZestError, match="cannot be resumed: remove it"):
        pipeline.resume(store, child)


def test_documents_that_came_back_empty_get_fresh_seeds_on_resume(store, exemplars, monkeypatch):
    import fake_plugin

    tried: dict[int, list[int]] = {}
    original = fake_plugin.FakeGenerator.complete

    def empty_for_ordinal_3(self, request):
        completion = original(self, request)
        if request.key == 3 and not request.prompt.endswith("Title:"):
            tried.setdefault(3, []).append(request.seed)
            if len(tried[3]) <= pipeline.DOCUMENT_ATTEMPTS:  # every attempt of the 1st run
                return completion.__class__(" ", 1, 1)
        return completion

    monkeypatch.setattr(fake_plugin.FakeGenerator, "complete", empty_for_ordinal_3)
    with pytest.raises(ZestError, match="empty text for 1 documents"):
        pipeline.start(
            store, exemplars=exemplars, corpus="c", generator="fake", n_anchors=2, n_docs=6, seed=9
        )
    first = list(tried[3])
    pipeline.resume(store, 1)
    doc = next(d for d in store.documents(1) if d["ordinal"] == 3)
    assert doc["seed"] not in first and doc["seed"] == tried[3][-1]
    others = {d["ordinal"]: d["seed"] for d in store.documents(1) if d["ordinal"] != 3}
    from zest_core.plugin.strategy import derive_seed

    assert others == {j: derive_seed(9, "document", 0, j, 0) for j in others}


def _signal_run(db, signum):
    proc = subprocess.Popen(
        fake_cli(
            "run",
            "--exemplars",
            SCIFACT_EXEMPLARS,
            "--generator",
            "fake",
            "-o",
            "delay=0.2",
            "--anchors",
            2,
            "--docs",
            50,
            "--db",
            db,
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while True:  # wait for the first document (an event, not a guess at a delay)
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        if os.path.exists(db):
            with sqlite3.connect(db, timeout=30) as conn:
                if (
                    conn.execute(
                        "SELECT name FROM sqlite_master WHERE name = 'documents'"
                    ).fetchone()
                    and conn.execute("SELECT count(*) FROM documents").fetchone()[0]
                ):
                    break
        time.sleep(0.05)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, err


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_mark_failed_and_say_how_to_resume(tmp_path, signum, status):
    db = tmp_path / "z.db"
    rc, err = _signal_run(db, signum)
    assert rc == status, err
    assert "Aborted!" not in err and "Traceback" not in err
    assert "zest run --resume 1" in err.strip().splitlines()[-1]
    version = Store(db).version(1)
    assert (version["status"], version["error"]) == ("failed", "interrupted")
