"""A native crash in generator code is one ``Error:`` line, and nothing is lost.

Real ``zest`` processes with the fake generator, which dies from a real SIGSEGV (a read of
address 0 through ctypes) on a chosen request (``$ZEST_FAKE_SEGFAULT_AFTER``), as llama.cpp
does on AMX CPUs."""

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import FAKE_RUN, ROOT, fake_cli
from test_kill import count, kill_when

from zest_core import supervisor
from zest_core.corpus.store import Store

SEGFAULT = {"ZEST_FAKE_SEGFAULT_AFTER": "document:3"}


def zest(*args, env=None, timeout=120):
    return subprocess.run(
        fake_cli(*args),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def error_line(stderr: str) -> str:
    """The one ``Error:`` line (asserted to be the only one, with no traceback)."""
    errors = [line for line in stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    return errors[0]


def documents(db, version_id):
    return (
        Store(db)
        .db.execute(
            "SELECT ordinal FROM documents WHERE version_id = ? ORDER BY ordinal", [version_id]
        )
        .fetchall()
    )


def test_a_segfaulting_generator_is_one_error_and_the_run_resumes_exactly(tmp_path):
    db = tmp_path / "z.db"
    crashed = zest(*FAKE_RUN, "--db", db, env=SEGFAULT)
    assert crashed.returncode == 128 + signal.SIGSEGV, crashed.stderr
    line = error_line(crashed.stderr)
    assert "SIGSEGV" in line and "the generator fake" in line, line
    assert f"Continue it with: zest run --resume 1 --db {db}" in line, line
    version = Store(db).version(1)
    assert version["status"] == "failed" and "SIGSEGV" in version["error"]
    assert version["lease_pid"] is None
    assert len(documents(db, 1)) == 3  # the three before the crash are kept

    resumed = zest("run", "--resume", 1, "--db", db)
    assert resumed.returncode == 0, resumed.stderr
    assert Store(db).version(1)["status"] == "complete"
    assert [row[0] for row in documents(db, 1)] == list(range(8))  # each ordinal once

    # the same corpus an uninterrupted run writes
    whole = zest(*FAKE_RUN, "--db", tmp_path / "whole.db")
    assert whole.returncode == 0, whole.stderr
    texts = [[d["text"] for d in Store(path).documents(1)] for path in (db, tmp_path / "whole.db")]
    assert texts[0] == texts[1]


def test_a_segfault_in_a_top_up_names_the_child_version(tmp_path):
    db = tmp_path / "z.db"
    assert zest(*FAKE_RUN, "--db", db).returncode == 0
    # the fake generator draws every document from 25 words: single-word shingles make
    # most of them near-copies, so version 2 is short and a top-up has work to do
    near = ("--with", "near-dedup", "-o", "threshold=0.5", "-o", "shingle=1")
    assert zest("filter", 1, *near, "--db", db).returncode == 0
    crashed = zest("run", "--top-up", 2, "--db", db, env={"ZEST_FAKE_SEGFAULT_AFTER": "document:0"})
    assert crashed.returncode == 128 + signal.SIGSEGV, crashed.stderr
    child = max(v["id"] for v in Store(db).versions())
    assert f"zest run --resume {child} --db {db}" in error_line(crashed.stderr)
    assert Store(db).version(child)["status"] == "failed"


def test_a_sigkilled_worker_never_leaves_a_version_running(tmp_path):
    """The child that does the work is killed (as the OOM killer would): the supervisor
    marks its version failed at once and says so."""
    db = tmp_path / "z.db"
    proc = subprocess.Popen(
        fake_cli(*FAKE_RUN, "--db", db),
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "ZEST_FAKE_HANG_AFTER": "document:2"},
    )
    deadline = time.monotonic() + 60
    while count(db, "SELECT count(*) FROM documents") < 2:
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.02)
    worker = Store(db).version(1)["lease_pid"]
    assert worker != proc.pid  # the work runs in a child process
    os.kill(worker, signal.SIGKILL)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGKILL
    assert "SIGKILL" in error_line(stderr)
    version = Store(db).version(1)
    assert version["status"] == "failed" and "SIGKILL" in version["error"]


def test_killing_zest_kills_its_worker(tmp_path):
    db, record = tmp_path / "z.db", tmp_path / "requests.jsonl"
    env = {"ZEST_FAKE_RECORD": str(record), "ZEST_FAKE_HANG_AFTER": "document:2"}
    kill_when(
        [*FAKE_RUN, "--db", db], lambda: count(db, "SELECT count(*) FROM documents") >= 2, env=env
    )
    worker = Store(db).version(1)["lease_pid"] if count(db, "SELECT 1") else None
    deadline = time.monotonic() + 30
    while worker is not None and _alive(worker):
        assert time.monotonic() < deadline, f"worker {worker} outlived its supervisor"
        time.sleep(0.05)
    assert Store(db).version(1)["status"] == "failed"  # swept: its writer is gone


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def signal_while_importing(args, signum: int, imported: str) -> tuple[int, str]:
    """Run the console script's code (``zest_core.entry``) with ``args`` and send it
    ``signum`` once its import of the CLI has reached the module ``imported`` (``-X
    importtime`` reports each module as it is imported): a guessed delay lands in Python's
    own start-up on a loaded machine, before any of zest runs. Its status and stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-c", "from zest_core.entry import main; main()",
         *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.rstrip().endswith(f" {imported}"):
            break
    proc.send_signal(signum)
    _, rest = proc.communicate(timeout=120)
    return proc.returncode, "".join(lines) + rest


@pytest.mark.parametrize("imported", ["zest_core.supervisor", "zest_core.corpus.store"])
def test_ctrl_c_while_starting_is_one_line_and_130(tmp_path, imported):
    """SIGINT while the CLI is still importing its plugins (the console script's code)."""
    args = ["run", "--exemplars", ROOT / "corpora" / "scifact", "--docs", "4", "--anchors", "2"]
    status, stderr = signal_while_importing(
        [*args, "--db", tmp_path / "z.db"], signal.SIGINT, imported
    )
    assert status == 130, stderr[-2000:]
    assert "Traceback" not in stderr and stderr.strip().splitlines()[-1].startswith("interrupted")


@pytest.mark.parametrize(
    "argv, held, advice",
    [
        (["zest", "run", "--exemplars", "x"], [{"version": 4}], "zest run --resume 4"),
        (["zest", "run", "--resume", "4", "--db=a b.db"], [{"version": 4}],
         "zest run --resume 4 --db 'a b.db'"),
        (["zest", "experiment", "g.toml"], [{"version": 2}], "the same command: zest experiment"),
        (["zest", "tune", "3"], [], "the same command: zest tune 3"),
    ],
)  # fmt: skip
def test_continue_advice(argv, held, advice):
    assert advice in supervisor.continue_advice(argv, held)


def test_unsupervised_when_switched_off(tmp_path):
    db = tmp_path / "z.db"
    run = zest(*FAKE_RUN, "--db", db, env={"ZEST_SUPERVISOR": "0", "ZEST_FAKE_HANG_AFTER": ""})
    assert run.returncode == 0, run.stderr
    crashed = zest(*FAKE_RUN, "--db", db, env={"ZEST_SUPERVISOR": "0", **SEGFAULT})
    assert crashed.returncode == -signal.SIGSEGV  # what the switch gives up


def test_the_error_line_gives_the_known_cause_and_marks_the_version(tmp_path, capsys):
    """What the supervisor prints when llama.cpp dies on an AMX CPU with extra buffers on
    (that CPU is not needed to check the line: the notes are what the worker wrote)."""
    db = tmp_path / "z.db"
    store = Store(db)
    version = store.create_version("c", kind="run", config={}, target_docs=4)
    hint = "Known cause: llama.cpp's AMX matrix product crashes; run with -o extra_buffers=off"
    notes = [
        {"kind": "generator", "name": "llama-cpp", "model": "gemma.gguf", "hint": hint},
        {"kind": "lease", "db": str(db), "version": version},
    ]
    argv = ["zest", "run", "--exemplars", "x", "--db", str(db)]
    assert supervisor.report_crash(signal.SIGSEGV, os.getpid(), notes, argv) == 139
    line = error_line(capsys.readouterr().err)
    assert line.startswith("Error: the generator llama-cpp (gemma.gguf) crashed: SIGSEGV")
    assert hint in line and f"zest run --resume {version} --db {db}" in line
    assert Store(db).version(version)["status"] == "failed"
    # a version someone else has taken over since is left alone
    other = store.create_version("c", kind="run", config={}, target_docs=4)
    assert not store.record_crash(other, os.getpid() + 1, "SIGSEGV")
