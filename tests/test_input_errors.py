"""Bad input and broken paths: one ``Error:`` line and exit status 1, checked before any
version exists; Ctrl-C and SIGTERM; resume with changed options. Each case here was a
traceback, a silent acceptance or a stuck version before (issue #14)."""

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


def test_read_only_database_is_one_error(complete, tmp_path):
    """On a read-only filesystem reading still works and a write says why in one line."""
    ro = tmp_path / "ro"
    ro.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(ro)]).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root) to make a read-only filesystem")
    try:
        for path in complete.parent.glob(complete.name + "*"):
            (ro / path.name).write_bytes(path.read_bytes())
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        db = ro / complete.name
        assert zest("corpora", "list", "--db", db).exit_code == 0
        one_error(run(db), "readonly")
    finally:
        subprocess.run(["umount", "-l", str(ro)])


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
