import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import FAKE_RUN, SCIFACT_EXEMPLARS, clean_exit, fake_cli

from zest_core.cli import cli
from zest_core.corpus.store import Store


def zest(*args, ok=True):
    """``zest ARGS`` in this process: exit 0, or (``ok=False``) one ``Error:`` line and exit 1;
    either way through zest's handling, never an exception that escaped."""
    result = CliRunner().invoke(cli, [str(a) for a in args])
    clean_exit(result, 0 if ok else 1)
    return result


def fake_run(db, *extra, ok=True):
    return zest(*FAKE_RUN, "--db", db, *extra, ok=ok)


def test_run_show_list_export(db_path, tmp_path):
    result = fake_run(db_path, "--seed", 3)
    assert "version 1 (scifact) complete: 8 documents over 4 anchors" in result.output
    assert "tokens/s" in result.output and "wall time" in result.output
    show = zest("corpora", "show", 1, "--db", db_path).output
    assert "complete" in show and "documents 8/8" in show and "4 anchors" in show
    assert "generator fake" in show and "seed 3" in show and "prompt hashes" in show
    assert "scifact" in zest("corpora", "list", "--db", db_path).output
    out = tmp_path / "v1.jsonl"
    zest("corpora", "export", 1, "--format", "jsonl", "-o", out, "--db", db_path)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 8 and all(r["text"] and r["anchor"] for r in rows)
    zest(
        "corpora", "export", "scifact", "--format", "beir", "-o", tmp_path / "beir", "--db", db_path
    )
    beir = [json.loads(line) for line in (tmp_path / "beir" / "corpus.jsonl").open()]
    assert [r["text"] for r in beir] == [r["text"] for r in rows]


def test_zest_db_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("ZEST_DB", str(tmp_path / "env.db"))
    zest(
        "run", "--exemplars", SCIFACT_EXEMPLARS, "--generator", "fake", "--anchors", 1, "--docs", 1
    )
    assert Store(tmp_path / "env.db").version(1)["status"] == "complete"


def test_plugins_lists_default_generator_and_strategies():
    out = zest("plugins").output
    assert "llama_cpp" in out and "register_generators" in out
    assert "llama-cpp" in out.split("generators:")[1].split("\n")[0]
    assert "direct, diverse, hierarchical" in out


@pytest.mark.parametrize(
    "args,message",
    [
        (["--anchors", 5, "--docs", 4], "--anchors must be between 1 and --docs"),
        (["--docs", 0], "--docs must be between 1 and"),
        (["--generator", "nope"], "unknown generator 'nope'"),
        (["--strategy", "nope"], "unknown anchor strategy 'nope'"),
        (["-o", "delay"], "not of the form key=value"),
        (["-o", "delay=slow"], "option delay for 'fake' must be a number (got 'slow')"),
        (["-o", "colour=red"], "unknown option colour for 'fake'"),
    ],
)
def test_bad_run_arguments(db_path, args, message):
    result = zest(
        "run",
        "--exemplars",
        SCIFACT_EXEMPLARS,
        "--generator",
        "fake",
        "--db",
        db_path,
        *args,
        ok=False,
    )
    assert result.exit_code == 1 and message in result.output
    assert Store(db_path).versions() == []


def test_option_with_a_few_allowed_values(db_path):
    result = zest(
        "run", "--exemplars", SCIFACT_EXEMPLARS, "-o", "mode=poem", "--db", db_path, ok=False
    )
    assert result.exit_code == 1
    assert "option mode for 'llama-cpp' must be auto, completion or chat" in result.output


def test_bad_model_paths(db_path, tmp_path):
    result = zest(
        "run",
        "--exemplars",
        SCIFACT_EXEMPLARS,
        "--model",
        tmp_path / "no.gguf",
        "--db",
        db_path,
        ok=False,
    )
    assert result.exit_code == 1 and "model file not found" in result.output
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"not a model at all")
    result = zest(
        "run", "--exemplars", SCIFACT_EXEMPLARS, "--model", fake, "--db", db_path, ok=False
    )
    assert result.exit_code == 1 and "not a GGUF model file" in result.output
    assert Store(db_path).versions() == []


def test_missing_and_undecodable_exemplars(db_path, tmp_path):
    result = zest("run", "--exemplars", tmp_path / "none.jsonl", "--db", db_path, ok=False)
    assert result.exit_code == 1 and "exemplar path not found" in result.output
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe broken")
    result = zest("run", "--exemplars", bad, "--db", db_path, ok=False)
    assert result.exit_code == 1 and "not valid UTF-8" in result.output


def test_failed_anchor_generation_is_not_complete(db_path):
    result = fake_run(db_path, "-o", "constant=true", ok=False)
    assert result.exit_code == 1 and "usable anchors" in result.output
    show = zest("corpora", "show", 1, "--db", db_path).output
    assert "failed" in show and "complete" not in show.split("\n")[0]


def test_unknown_version_and_resume_conflicts(db_path):
    result = zest("run", "--resume", 1, "--exemplars", SCIFACT_EXEMPLARS, "--db", db_path, ok=False)
    assert "cannot be combined" in result.output
    fake_run(db_path)
    result = zest("corpora", "show", 42, "--db", db_path, ok=False)
    assert result.exit_code == 1 and "no corpus version '42'" in result.output
    result = zest("run", "--resume", 1, "--db", db_path, ok=False)
    assert "already complete" in result.output


def test_bad_database_file(tmp_path):
    bad = tmp_path / "not.db"
    bad.write_text("this is not sqlite " * 100)
    result = zest("corpora", "list", "--db", bad, ok=False)
    assert result.exit_code == 1 and "cannot open the zest database" in result.output


@pytest.mark.slow
def test_plugin_allow_list():
    env = {**os.environ, "ZEST_LOAD_PLUGINS": "anchors"}
    out = subprocess.run(
        [sys.executable, "-c", "from zest_core.cli import main; main()", "plugins"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "anchors" in out and "llama_cpp" not in out
    assert "generators: -" in out and "direct, diverse, hierarchical" in out


def test_default_database_location(monkeypatch):
    from zest_core.corpus.store import default_db_path

    monkeypatch.delenv("ZEST_DB", raising=False)
    checkout = default_db_path()
    assert checkout == SCIFACT_EXEMPLARS.parent / "zest.db"  # in a source checkout
    monkeypatch.setenv("ZEST_DB", "/tmp/elsewhere.db")
    assert str(default_db_path()) == "/tmp/elsewhere.db"


def bad_inputs(tmp):
    """Bad input of several kinds, each as the arguments of a real ``zest`` process."""
    (tmp / "bad.txt").write_bytes(b"\xff\xfe broken")
    (tmp / "not.db").write_text("this is not sqlite " * 100)
    run = ["run", "--exemplars", SCIFACT_EXEMPLARS, "--generator", "fake", "--db", tmp / "z.db"]
    return {
        "anchors above docs": (run + ["--anchors", 5, "--docs", 4], "--anchors must be"),
        "unknown option": (run + ["-o", "colour=red"], "unknown option colour"),
        "missing exemplars": (
            ["run", "--exemplars", tmp / "none.jsonl", "--db", tmp / "z.db"],
            "exemplar path not found",
        ),
        "undecodable exemplars": (
            ["run", "--exemplars", tmp / "bad.txt", "--db", tmp / "z.db"],
            "not valid UTF-8",
        ),
        "not a database": (["corpora", "list", "--db", tmp / "not.db"], "cannot open"),
        "no database": (["corpora", "list", "--db", tmp / "none.db"], "no zest database at"),
        "generator fails mid-run": (
            run + ["--anchors", 2, "--docs", 6, "-o", "fail_after=4"],
            "fake generator failed as asked; version 1 is unfinished. Continue it with:"
            f" zest run --resume 1 --db {tmp / 'z.db'}",
        ),
        # after the run above: the database exists, the version does not
        "unknown version": (["corpora", "show", 42, "--db", tmp / "z.db"], "no corpus version"),
    }


@pytest.mark.slow
def test_bad_input_in_a_real_process_is_one_error_line(tmp_path):
    """The promise as a user sees it: exit status 1 and one ``Error:`` line on stderr, no
    traceback (an uncaught exception in a real process prints one and exits 1 too, so the
    stderr is what tells them apart)."""
    for case, (args, message) in bad_inputs(tmp_path).items():
        done = subprocess.run(fake_cli(*args), capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, (case, done.stderr)
        assert "Traceback" not in done.stderr, (case, done.stderr)
        errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and message in errors[0], (case, done.stderr)
        assert message not in done.stdout, case  # the message goes to stderr only
