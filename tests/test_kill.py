"""A real ``zest run`` process killed with SIGKILL at several points, then resumed."""

import signal
import sqlite3
import subprocess
import time

from zest_core.store import Store
from conftest import SCIFACT_EXEMPLARS, fake_cli

N_DOCS, N_ANCHORS = 24, 4


def count(db, sql):
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return -1


def kill_when(args, db, sql, at_least, timeout=60):
    proc = subprocess.Popen(fake_cli(*args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while count(db, sql) < at_least:
        assert proc.poll() is None, proc.stdout.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.returncode


def test_sigkill_at_any_point_then_resume(tmp_path):
    db = tmp_path / "killed.db"
    run = ["run", "--exemplars", SCIFACT_EXEMPLARS, "--generator", "fake", "-o", "delay=0.03",
           "--anchors", N_ANCHORS, "--docs", N_DOCS, "--seed", 11, "--db", db]
    # 1: killed while the anchors are being sampled (a version exists, no anchor stored yet)
    assert kill_when(run, db, "SELECT count(*) FROM versions", 1) == -signal.SIGKILL
    assert count(db, "SELECT count(*) FROM anchors") == 0
    resume = ["run", "--resume", 1, "--db", db]
    # 2 and 3: killed between documents, twice
    for at_least in (3, 15):
        assert kill_when(resume, db, "SELECT count(*) FROM documents", at_least) == -9
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
    whole = subprocess.run(fake_cli(*run[:-1], tmp_path / "whole.db"), capture_output=True,
                           timeout=120)
    assert whole.returncode == 0
    assert [d["text"] for d in Store(tmp_path / "whole.db").documents(1)] == [
        d["text"] for d in docs]
