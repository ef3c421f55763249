"""A real ``zest run`` process killed with SIGKILL at several points, then resumed.

Each kill waits for an event, not a timer: the fake generator records its requests in a file
and blocks on a chosen one (``$ZEST_FAKE_HANG_AFTER``), so the process is known to be exactly
there, however loaded the machine, when the test kills it."""

import os
import signal
import sqlite3
import subprocess
import time

import pytest
from conftest import SCIFACT_EXEMPLARS, fake_cli
from fake_plugin import kind_of, recorded

from zest_core.corpus.store import Store

N_DOCS, N_ANCHORS = 24, 4


def count(db, sql):
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return -1


def kill_when(args, ready, timeout=120, env=None):
    """Start ``zest ARGS``, SIGKILL it once ``ready()`` holds; its exit status."""
    proc = subprocess.Popen(
        fake_cli(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, proc.stdout.read().decode()
        assert time.monotonic() < deadline, f"not ready within {timeout} s"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    return proc.returncode


def kill_at_request(args, record, kind, n):
    """Run ``zest ARGS`` with the fake generator; SIGKILL it while it is blocked in its ``kind``
    request ``n + 1`` (the first ``n`` have been answered, and documents stored)."""
    record.unlink(missing_ok=True)
    env = {"ZEST_FAKE_RECORD": str(record), "ZEST_FAKE_HANG_AFTER": f"{kind}:{n}"}
    return kill_when(args, lambda: sum(kind_of(r) == kind for r in recorded(record)) > n, env=env)


@pytest.mark.slow
def test_sigkill_at_any_point_then_resume(tmp_path):
    db, record = tmp_path / "killed.db", tmp_path / "requests.jsonl"
    run = [
        "run",
        "--exemplars",
        SCIFACT_EXEMPLARS,
        "--generator",
        "fake",
        "--anchors",
        N_ANCHORS,
        "--docs",
        N_DOCS,
        "--seed",
        11,
        "--db",
        db,
    ]
    # 1: killed in the middle of the anchors (2 sampled): a version exists, no anchor stored
    assert kill_at_request(run, record, "anchor", 2) == -signal.SIGKILL
    assert count(db, "SELECT count(*) FROM versions") == 1
    assert count(db, "SELECT count(*) FROM anchors") == 0
    assert {kind_of(r) for r in recorded(record)} == {"anchor"}
    resume = ["run", "--resume", 1, "--db", db]
    # 2 and 3: killed between documents, after 3 and then after 12 more
    for answered, stored in ((3, 3), (12, 15)):
        assert kill_at_request(resume, record, "document", answered) == -signal.SIGKILL
        assert count(db, "SELECT count(*) FROM documents") == stored
        store = Store(db)
        version = store.version(1)  # opening the store notices the writer is gone
        assert (version["status"], version["error"][:11]) == ("failed", "interrupted")
        anchors = store.anchors(1)
        assert len(anchors) == N_ANCHORS
    done = subprocess.run(fake_cli(*resume), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{N_DOCS} documents over {N_ANCHORS} anchors" in done.stdout
    store = Store(db)
    assert store.version(1)["status"] == "complete"
    assert store.anchors(1) == anchors  # anchors were not regenerated
    docs = store.documents(1)
    assert [d["ordinal"] for d in docs] == list(range(N_DOCS))  # none lost, none duplicated
    # the killed-and-resumed corpus equals an uninterrupted one with the same seed
    whole = subprocess.run(
        fake_cli(*run[:-1], tmp_path / "whole.db"), capture_output=True, timeout=120
    )
    assert whole.returncode == 0
    assert [d["text"] for d in Store(tmp_path / "whole.db").documents(1)] == [
        d["text"] for d in docs
    ]
