"""Bad input and broken paths: one ``Error:`` line and exit status 1, checked before any
version exists; Ctrl-C and SIGTERM; resume with changed options. Each case here was a
traceback, a silent acceptance or a stuck version before (issue #14)."""

import errno
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
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
    ["models"],
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
    from zest_core.evaluation.beir import load_beir

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


# Issue #32: the third fault and bad-input probe ---------------------------------------------
def test_failed_run_advice_names_its_database(db_path):
    """``Continue it with: zest run --resume 1`` resumed version 1 of another database."""
    one_error(run(db_path, "-o", "fail_after=4"), f"zest run --resume 1 --db {db_path}")
    store = Store(db_path)
    with pytest.raises(
        ZestError, match=re.escape(f"finish it with: zest run --resume 1 --db {db_path}")
    ):
        store.require_complete(1)


ANCHOR_SETTINGS = [
    (("max_jaccard = 0.5", 'max_jaccard = "x"'), "max_jaccard must be a number between 0 and 1"),
    (("min_words = 2", 'min_words = "2"'), "min_words must be a whole number at least 1"),
    (
        ("attempts_per_anchor = 6", "attempts_per_anchor = 2.5"),
        "attempts_per_anchor must be a whole number at least 1, not 2.5",
    ),
    (("max_jaccard = 0.5", "max_jacard = 0.5"), "unknown setting max_jacard"),
]


@pytest.mark.parametrize("edit, message", ANCHOR_SETTINGS, ids=lambda x: str(x)[:30])
def test_bad_anchor_settings_fail_before_any_version(db_path, tmp_path, edit, message):
    """A TypeError after version 1 existed (a string setting), or silent acceptance (2.5, an
    unknown key)."""
    from zest_anchors import TEMPLATES

    text = (TEMPLATES / "hierarchical.toml").read_text()
    assert edit[0] in text
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace(*edit))
    one_error(run(db_path, "--templates", bad), message)
    assert versions(db_path) == 0


@pytest.mark.parametrize("meta", ["[1, 2]", '"index"', "3", "null"])
def test_meta_json_that_is_not_an_object_is_one_error(tmp_path, meta):
    """Valid JSON but not an object, in an embed folder (zest index) or an index (search)."""
    folder = tmp_path / "emb"
    folder.mkdir()
    (folder / "meta.json").write_text(meta)
    one_error(zest("index", folder), "meta.json is damaged (a JSON")
    one_error(zest("search", folder, "some words"), "meta.json is damaged (a JSON")
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json"]


def test_meta_json_without_its_keys_is_one_error(tmp_path):
    folder = tmp_path / "emb"
    folder.mkdir()
    (folder / "meta.json").write_text('{"complete": true}')
    one_error(zest("index", folder), "meta.json is damaged (no shards")
    (folder / "meta.json").write_text('{"index_format": 2}')
    one_error(zest("search", folder, "words"), "meta.json is damaged (no encoder")


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--seed", -1], "option seed for 'adapt' must be between 0 and"),
        (["--seed", 2**32], "option seed for 'adapt' must be between 0 and"),
        (["--device", "bogus"], "option device for 'adapt' must be cpu, cuda, cuda:N or mps"),
        (["--query-seed", -1], "--query-seed must be between 0 and 2**63-1"),
    ],
)
def test_adapt_options_are_checked_before_any_work(complete, extra, message):
    """They failed inside training, after the queries were written."""
    one_error(zest("adapt", 1, *extra, "--db", complete), message)
    assert Store(complete).db.execute("SELECT count(*) FROM synthetic_queries").fetchone() == (0,)


def test_adapt_refuses_a_device_this_machine_lacks(complete):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    one_error(
        zest("adapt", 1, "--device", "cuda:0", "--db", complete), "this machine has no cuda:0"
    )


def test_a_plugins_own_bug_is_one_line_naming_it(db_path, monkeypatch):
    """A plugin raising a plain RuntimeError printed a 44-line traceback."""
    failed = run(db_path, "-o", "bug_after=2")
    one_error(failed, "the plugin tests.fake_plugin failed: RuntimeError: fake generator's own bug")
    assert "ZEST_DEBUG=1 shows the traceback" in failed.output
    assert f"Continue it with: zest run --resume 1 --db {db_path}" in failed.output
    monkeypatch.setenv("ZEST_DEBUG", "1")
    debug = zest(*FAKE_RUN, "--db", db_path, "-o", "bug_after=2")
    assert debug.exit_code == 1 and "Traceback" in debug.stderr
    assert 'raise RuntimeError("fake generator\'s own bug")' in debug.stderr
    errors = [line for line in debug.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "tests.fake_plugin" in errors[0], debug.output


def test_debug_flag_shows_the_traceback(db_path):
    debug = zest("--debug", *FAKE_RUN, "--db", db_path, "-o", "bug_after=0")
    assert debug.exit_code == 1 and "Traceback" in debug.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--exemplars", "", "--generator", "fake"], "--exemplars must not be empty"),
        (["corpora", "show", 1, "--samples", -1], "--samples must be 0 or more"),
        (["corpora", "diff", 1, 1, "--samples", -5], "--samples must be 0 or more"),
        (["eval", "--dataset", "x", "--seed", -1], "--seed must be between 0 and 2**63-1"),
        (["tune", 1, "--seed", -1], "--seed must be between 0 and 2**63-1"),
        (
            ["corpora", "fidelity", 1, "--against", "x", "--seed", -1],
            "--seed must be between 0 and 2**63-1",
        ),
    ],
    ids=lambda x: " ".join(map(str, x[:3])) if isinstance(x, list) else None,
)
def test_out_of_bounds_options_are_refused(complete, args, message):
    """Each was accepted (``--exemplars ""`` read the current directory)."""
    one_error(zest(*args, "--db", complete), message)
    assert versions(complete) == 1


@pytest.mark.parametrize("name", ["core", "echo", "anchors", "releaser", "zest-core"])
def test_plugins_new_refuses_zest_s_own_names(tmp_path, name):
    """``new core`` scaffolded a package zest-core with a module zest_core."""
    folder = tmp_path / "p"
    one_error(zest("plugins", "new", name, "--dir", folder), "already uses; choose another name")
    assert not folder.exists()


@pytest.mark.parametrize("answer", ["n\n", ""], ids=["no", "closed stdin"])
def test_declined_rm_is_not_an_interrupt(complete, answer):
    """Answering n (or no stdin) printed "interrupted (SIGINT)" and exited 130."""
    done = subprocess.run(
        fake_cli("corpora", "rm", 1, "--db", complete), input=answer, capture_output=True, text=True
    )
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [
        "Error: not confirmed: nothing removed (add --yes to remove without asking)"
    ]
    assert versions(complete) == 1


def test_hf_export_force_replaces_only_its_own_export(complete, tmp_path):
    """``--format hf --force`` deleted whatever folder was there."""
    pytest.importorskip("datasets")
    keep = tmp_path / "keep"
    (keep / "sub").mkdir(parents=True)
    (keep / "thesis.txt").write_text("x\n")
    export = ["corpora", "export", 1, "--format", "hf", "--db", complete]
    one_error(zest(*export, "-o", keep, "--force"), "not a dataset export that zest made")
    assert (keep / "thesis.txt").read_text() == "x\n" and (keep / "sub").is_dir()
    out = tmp_path / "hf"
    assert zest(*export, "-o", out).exit_code == 0
    one_error(zest(*export, "-o", out), "add --force to replace it")
    assert zest(*export, "-o", out, "--force").exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_sighup_names_the_stage_not_a_generator_crash(tmp_path):
    """SIGHUP of zest run said "the generator fake (default) crashed"."""
    db = tmp_path / "z.db"
    rc, err = _signal_run(db, signal.SIGHUP)
    assert rc == 128 + signal.SIGHUP, err
    [line] = [x for x in err.splitlines() if x.startswith("Error:")]
    assert "zest run was interrupted (SIGHUP) while generating with the generator fake" in line
    assert "crashed" not in line and f"zest run --resume 1 --db {db}" in line


def test_a_crash_after_the_generator_names_the_stage(tmp_path, capsys):
    """kill -9 during adapt's training or an experiment's scoring blamed the generator that
    had finished before it."""
    from zest_core import supervisor

    notes = [
        {"kind": "generator", "name": "probe", "model": "default"},
        {"kind": "stage", "what": "training (zest adapt)", "state": "start"},
    ]
    argv = ["zest", "adapt", "1"]
    assert supervisor.report_crash(signal.SIGKILL, os.getpid(), notes, argv) == 137
    line = capsys.readouterr().err.strip()
    assert line.startswith("Error: zest adapt died while training (zest adapt): SIGKILL"), line
    assert "probe" not in line
    # once the stage is over, the generator in use is what was running again
    notes.append({"kind": "stage", "what": "training (zest adapt)", "state": "end"})
    assert supervisor.running(notes)["kind"] == "generator"


@pytest.mark.parametrize("imported", ["zest_core.supervisor", "zest_core.corpus.store"])
def test_sigterm_while_starting_is_one_line_and_143(tmp_path, imported):
    """SIGTERM while the CLI imports its plugins died with no message."""
    from test_supervisor import signal_while_importing

    args = ["corpora", "list", "--db", tmp_path / "z.db"]
    status, stderr = signal_while_importing(args, signal.SIGTERM, imported)
    assert status == 143, stderr[-2000:]
    assert "Traceback" not in stderr and stderr.strip().splitlines()[-1] == "interrupted (SIGTERM)"


def test_notes_of_a_killed_zest_are_removed_on_the_next_start(tmp_path):
    """``zest-*.notes`` stayed in the temp folder after the parent was SIGKILLed."""
    temp = tmp_path / "temp"
    temp.mkdir()
    db = tmp_path / "z.db"
    env = {**os.environ, "TMPDIR": str(temp), "ZEST_FAKE_HANG_AFTER": "document:1"}
    proc = subprocess.Popen(
        fake_cli(*FAKE_RUN, "--db", db),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 120
    while not list(temp.glob("zest-*.notes")) or not _documents(db):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert list(temp.glob("zest-*.notes"))  # left behind by the SIGKILL
    done = subprocess.run(fake_cli("corpora", "list", "--db", db), env=env, capture_output=True)
    assert done.returncode == 0, done.stderr
    assert list(temp.glob("zest-*.notes")) == []


def _documents(db) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM documents").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_experiment_name_cannot_leave_reports(tmp_path):
    """``[experiment] name = "../../../x"`` wrote the report outside reports/."""
    from zest_core.evaluation.beir import FILES
    from zest_core.evaluation.grid import load

    for name in FILES:  # an empty BEIR directory: load() checks only that the files exist
        (tmp_path / "data" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "data" / name).write_text("")
    grid = tmp_path / "g.toml"
    grid.write_text('[experiment]\nname = "../../../x"\n[[dataset]]\npath = "data"\n')
    with pytest.raises(ZestError, match="name must be a plain name"):
        load(grid)


FIRST_OPEN = """
import sys, time
from zest_core.corpus import migrations
first = migrations.MIGRATIONS[0]
def slow(db):
    print("migrating", flush=True)
    time.sleep(3)
    first(db)
slow.__name__ = first.__name__
migrations.MIGRATIONS[0] = slow
from zest_core.corpus.store import Store
Store(sys.argv[1])
"""


def test_a_reader_waits_for_another_process_s_first_open(tmp_path):
    """``corpora list`` during another process's first open said "not a zest database"."""
    db = tmp_path / "z.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", FIRST_OPEN, str(db)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline() == "migrating\n"
        listing = zest("corpora", "list", "--db", db)
        assert listing.exit_code == 0, listing.output
        assert "not a zest database" not in listing.output
    finally:
        assert proc.wait(timeout=60) == 0
