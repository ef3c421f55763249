"""Fault injection: real ``zest`` processes on a real SQLite file, killed with SIGKILL at
seeded random moments, then the store's invariants checked with SQL.

Each writing command (run, resume, top-up, filter, rm, export, the first open that applies
the migrations) is killed over several trials; ``ZEST_FAULT_TRIALS`` sets the trials per
command (default 3 here, about fifty processes in all; ``benchmarks/faults.py --trials N``
runs more) and ``ZEST_FAULT_SEED`` the seed of the kill times. Also: four writers on one
file at once, and a run on a tmpfs that fills up.

The invariants (``check_invariants``), after any kill and any later open of the store:
  I1 every complete run or top-up has exactly its planned documents (one per ordinal
     0..target-1) and all its anchors; every complete filter version has its parent's
     documents less its drops;
  I2 ordinals are unique within a version;
  I3 anchors are whole: a version has none or all of them;
  I4 no version is ``running`` without a live process holding its lease;
  I5 SQLite's integrity_check and foreign_key_check pass, and every migration is applied.
"""

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import NamedTuple

import pytest
from conftest import SCIFACT_EXEMPLARS, fake_cli

from zest_core.corpus import pipeline
from zest_core.corpus.exemplars import read_exemplars
from zest_core.corpus.migrations import MIGRATIONS
from zest_core.corpus.store import Store

TRIALS = int(os.environ.get("ZEST_FAULT_TRIALS", 3))
SEED = int(os.environ.get("ZEST_FAULT_SEED", 0))
RUN = ["--generator", "fake", "-o", "delay=0.002", "--anchors", 30, "--docs", 60, "--seed", 5]
BIG = 1500  # documents of the base version that filter, rm and export work on

# A kill point SIGKILLs the worker process that writes; its supervisor (the ``zest``
# process, zest_core/supervisor.py) reports that with 128 + 9. A kill by time hits the
# supervisor itself, whose worker then dies with it: -9.
KILLED = (-signal.SIGKILL, 128 + signal.SIGKILL)


def sql(db, query, *args):
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return conn.execute(query, args).fetchall()


def check_invariants(db: Path) -> None:
    if not db.exists() or not sql(db, "SELECT name FROM sqlite_master WHERE name='versions'"):
        # killed before the first migration committed: the file must still open cleanly
        Store(db).db.conn.close()
    Store(db).db.conn.close()  # an open marks versions whose writer is gone as failed
    assert sql(db, "PRAGMA integrity_check") == [("ok",)]
    assert sql(db, "PRAGMA foreign_key_check") == []
    assert {r[0] for r in sql(db, "SELECT name FROM _zest_migrations")} == {
        fn.__name__ for fn in MIGRATIONS
    }
    versions = sql(
        db,
        """SELECT id, kind, status, target_docs, n_anchors, parent_id,
                          lease_pid FROM versions""",
    )
    for vid, kind, status, target, n_anchors, parent, lease_pid in versions:
        docs = sql(
            db, "SELECT count(*), count(DISTINCT ordinal) FROM documents WHERE version_id = ?", vid
        )[0]
        assert docs[0] == docs[1], f"I2: version {vid} repeats an ordinal"
        anchors = sql(db, "SELECT count(*) FROM anchors WHERE version_id = ?", vid)[0][0]
        if kind != "filter":
            assert anchors in (0, n_anchors), f"I3: version {vid} has {anchors}/{n_anchors}"
        if status == "complete":
            if kind == "filter":
                parent_docs = sql(
                    db, "SELECT count(*) FROM documents WHERE version_id = ?", parent
                )[0][0]
                dropped = sql(db, "SELECT count(*) FROM drops WHERE version_id = ?", vid)[0][0]
                assert docs[0] == parent_docs - dropped, f"I1: filter version {vid}"
            else:
                planned = sql(
                    db,
                    "SELECT count(*) FROM documents WHERE version_id = ?"
                    " AND ordinal BETWEEN 0 AND ?",
                    vid,
                    target - 1,
                )[0][0]
                assert docs[0] == planned == target, f"I1: version {vid} {docs[0]}/{target}"
                assert anchors == n_anchors, f"I1: version {vid} anchors"
        if status == "running":
            assert lease_pid and _alive(lease_pid), f"I4: version {vid} running, writer gone"


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def kill_after(args, point: "Point") -> int:
    """Run a real zest process and SIGKILL it at ``point``: just before its Nth SQL
    statement (the store's fault hook), or after some seconds of wall time."""
    env = {**os.environ, "ZEST_FAULT_KILL_AT": str(point.statement or "")}
    proc = subprocess.Popen(
        fake_cli(*args), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        proc.wait(timeout=point.seconds or 300)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    err = proc.stderr.read()
    proc.stderr.close()
    if os.environ.get("ZEST_FAULT_REPORT"):  # benchmarks/faults.py counts where kills landed
        with open(os.environ["ZEST_FAULT_REPORT"], "a") as f:
            f.write(
                json.dumps(
                    {
                        "command": " ".join(map(str, args[:2])),
                        "point": point._asdict(),
                        "killed": proc.returncode == -signal.SIGKILL,
                    }
                )
                + "\n"
            )
    if proc.returncode not in KILLED:  # finished first: it succeeded, or said why
        assert proc.returncode == 0, err
    return proc.returncode


def zest_ok(*args, timeout=180, env=None):
    done = subprocess.run(fake_cli(*args), capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


class Point(NamedTuple):
    statement: int | None = None
    seconds: float | None = None


def kill_points(name: str, args, trials: int = TRIALS) -> list[Point]:
    """Seeded kill points over one command: it is run once whole to count its SQL
    statements and time it; three trials in four kill before a random statement (inside
    transactions too), the rest after a random time (during generation or start-up)."""
    count = Path(os.environ.get("TMPDIR", "/tmp")) / f"zest-count-{os.getpid()}"
    started = time.monotonic()
    zest_ok(*args, env={**os.environ, "ZEST_FAULT_COUNT": str(count)})
    seconds = time.monotonic() - started
    statements = int(count.read_text())
    count.unlink()
    rng = random.Random(f"{SEED}-{name}")
    return [
        Point(statement=rng.randint(1, statements))
        if rng.random() < 0.75
        else Point(seconds=rng.uniform(0.1, 1.0) * seconds)
        for _ in range(trials)
    ]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A database with a complete run of BIG documents (version 1) and a filter child of
    it that dropped some (version 2), checkpointed into one file to copy per trial."""
    db = tmp_path_factory.mktemp("base") / "base.db"
    store = Store(db)
    exemplars = read_exemplars([str(SCIFACT_EXEMPLARS)])
    with store.transaction():  # one commit: quick to build
        pipeline.start(
            store,
            exemplars=exemplars,
            corpus="base",
            generator="fake",
            n_docs=BIG,
            n_anchors=10,
            seed=1,
        )
    from zest_core.corpus.filtering import apply_filters

    apply_filters(store, 1, [("quality", {"max_repetition": 0.0})])  # drops about 1%
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.db.conn.close()
    return db


def copy_of(base: Path, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(base, dest / "z.db")
    return dest / "z.db"


def test_run_and_resume_killed_anywhere(tmp_path):
    """Kill a run, then kill its resume, then resume to the end: invariants after every
    kill, and the finished corpus equals an uninterrupted one."""
    whole = tmp_path / "whole.db"
    run = ["run", "--exemplars", SCIFACT_EXEMPLARS, *RUN, "--db"]
    points = kill_points("run", [*run, whole])
    texts = [d["text"] for d in Store(whole).documents(1)]
    for trial, point in enumerate(points):
        db = tmp_path / f"t{trial}.db"
        kill_after([*run, db], point)
        check_invariants(db)
        if not sql(db, "SELECT 1 FROM versions"):
            continue
        if sql(db, "SELECT status FROM versions WHERE id = 1")[0][0] != "complete":
            # a resume has less left to do: killed at half the run's kill point
            half = Point(
                statement=point.statement and max(1, point.statement // 2),
                seconds=point.seconds and point.seconds / 2,
            )
            kill_after(["run", "--resume", 1, "--db", db], half)
            check_invariants(db)
        if sql(db, "SELECT status FROM versions WHERE id = 1")[0][0] != "complete":
            zest_ok("run", "--resume", 1, "--db", db)
        check_invariants(db)
        assert [d["text"] for d in Store(db).documents(1)] == texts


def test_first_open_killed_anywhere(tmp_path):
    """The migrations of a new file are one transaction: a kill leaves it new or whole.
    (A tiny run opens it: reading commands open an existing file read-only.)"""
    run = ["run", "--exemplars", SCIFACT_EXEMPLARS, "--generator", "fake", "--docs", 1]
    for trial, point in enumerate(
        kill_points("open", [*run, "--anchors", 1, "--db", tmp_path / "probe.db"])
    ):
        db = tmp_path / f"open{trial}.db"
        kill_after([*run, "--anchors", 1, "--db", db], point)
        check_invariants(db)


def test_filter_killed_anywhere(base, tmp_path):
    args = ["filter", 1, "--with", "exact-dedup", "--db"]
    for trial, point in enumerate(kill_points("filter", [*args, copy_of(base, tmp_path)])):
        db = copy_of(base, tmp_path / f"f{trial}")
        kill_after([*args, db], point)
        check_invariants(db)
        statuses = sql(db, "SELECT status FROM versions WHERE id > 2")
        assert statuses in ([], [("complete",)])  # all or nothing, never a partial child
    zest_ok(*args, db)  # and it can be run again


def test_top_up_killed_anywhere(base, tmp_path):
    args = ["run", "--top-up", 2, "-o", "delay=0.002", "--db"]
    for trial, point in enumerate(kill_points("top-up", [*args, copy_of(base, tmp_path)])):
        db = copy_of(base, tmp_path / f"t{trial}")
        kill_after([*args, db], point)
        check_invariants(db)
        child = sql(db, "SELECT id, status FROM versions WHERE id > 2")
        if child and child[0][1] != "complete":  # resumable...
            zest_ok("run", "--resume", child[0][0], "--db", db)
            check_invariants(db)
            assert sql(db, "SELECT count(*) FROM documents WHERE version_id = ?", child[0][0]) == [
                (BIG,)
            ]


def test_rm_killed_anywhere(base, tmp_path):
    args = ["corpora", "rm", 1, "--recursive", "-y", "--db"]
    for trial, point in enumerate(kill_points("rm", [*args, copy_of(base, tmp_path)])):
        db = copy_of(base, tmp_path / f"r{trial}")
        kill_after([*args, db], point)
        check_invariants(db)
        assert sql(db, "SELECT count(*) FROM versions")[0][0] in (0, 2)  # both or neither
        if sql(db, "SELECT count(*) FROM versions")[0][0]:
            zest_ok(*args, db)  # ...or removable
        assert sql(db, "SELECT count(*) FROM documents") == [(0,)]


def test_export_killed_anywhere(base, tmp_path):
    """An export replaces its file whole: a kill leaves the old file or the new one."""
    db = copy_of(base, tmp_path / "db")
    out = tmp_path / "out.jsonl"
    args = ["corpora", "export", 1, "-o", out, "--force", "--db", db]
    points = kill_points("export", args)
    whole = out.read_text()
    for point in points:
        # wall-clock points only: the file is written after the last SQL statement
        point = Point(seconds=point.seconds or random.Random(point.statement).uniform(1, 4))
        out.write_text("old\n")
        kill_after(args, point)
        assert out.read_text() in ("old\n", whole)
    check_invariants(db)


def test_four_writers_on_one_file(base, tmp_path):
    """Two runs creating the same new corpus, a filter and a top-up at once: each succeeds
    (writes wait for one another) and the store is whole."""
    db = copy_of(base, tmp_path / "w")
    commands = [
        ["run", "--exemplars", SCIFACT_EXEMPLARS, *RUN, "--name", "same"],
        ["run", "--exemplars", SCIFACT_EXEMPLARS, *RUN, "--name", "same"],
        ["filter", 1, "--with", "exact-dedup"],
        ["run", "--top-up", 2, "-o", "delay=0.002"],
    ]
    procs = [
        subprocess.Popen(
            fake_cli(*c, "--db", db), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for c in commands
    ]
    results = [(p.wait(timeout=300), *p.communicate()) for p in procs]
    assert [r[0] for r in results] == [0] * 4, results
    check_invariants(db)
    assert sql(db, "SELECT count(*) FROM corpora WHERE name = 'same'") == [(1,)]
    assert sql(db, "SELECT count(*) FROM versions WHERE status = 'complete'") == [(6,)]


def test_a_second_writer_is_refused_naming_the_holder(base, tmp_path):
    """While a resume writes a version, another resume and rm of it are refused."""
    db = copy_of(base, tmp_path / "w")
    proc = subprocess.Popen(
        fake_cli("run", "--top-up", 2, "-o", "delay=0.5", "--db", db),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not sql(
            db,
            "SELECT count(*) FROM documents WHERE version_id = 3"
            " AND seed IS NOT NULL AND ordinal IN"
            " (SELECT ordinal FROM drops WHERE version_id = 2)",
        )[0][0]:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        # the writer is the worker that the `zest` process supervises (zest_core/supervisor.py)
        writer = sql(db, "SELECT lease_pid FROM versions WHERE id = 3")[0][0]
        assert os.getpid() != writer != proc.pid
        assert open(f"/proc/{writer}/stat").read().rsplit(")", 1)[1].split()[1] == str(proc.pid)
        for args in (["run", "--resume", 3], ["corpora", "rm", 3, "-y"]):
            done = subprocess.run(
                fake_cli(*args, "--db", db), capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 1
            assert done.stderr.strip().splitlines() == [
                f"Error: version 3 is being written by pid {writer} on {os.uname().nodename};"
                f" cannot {'resume' if args[0] == 'run' else 'remove'} it until that process"
                " ends"
            ]
    finally:
        proc.kill()
        proc.wait()
    zest_ok("run", "--resume", 3, "--db", db)  # the dead writer's lease is taken over
    check_invariants(db)


def _mount_tmpfs(where: Path, size: str) -> None:
    where.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        pytest.skip(
            f"cannot mount a small tmpfs here ({done.stderr.strip()}): the disk-full"
            " case needs root and a kernel that allows it"
        )


def test_disk_full_is_one_error_and_resumable(tmp_path):
    disk = tmp_path / "disk"
    _mount_tmpfs(disk, "1m")
    try:
        db = disk / "z.db"
        done = subprocess.run(
            fake_cli(
                "run",
                "--exemplars",
                SCIFACT_EXEMPLARS,
                "--generator",
                "fake",
                "--docs",
                3000,
                "--db",
                db,
            ),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 1
        errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and "full" in errors[0], done.stderr
        assert errors[0].endswith(f"Continue it with: zest run --resume 1 --db {db}"), errors[0]
        assert "Traceback" not in done.stderr
        # at once, while the disk is still full: failed, with the real cause
        [(status, error)] = sql(db, "SELECT status, error FROM versions WHERE id = 1")
        assert status == "failed" and "full" in error, error
        listed = subprocess.run(
            fake_cli("corpora", "list", "--db", db), capture_output=True, text=True, timeout=60
        )
        assert listed.returncode == 0 and "failed" in listed.stdout, listed.stderr
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        check_invariants(db)
        zest_ok("run", "--resume", 1, "--db", db)
        check_invariants(db)
    finally:
        subprocess.run(["umount", "-l", str(disk)])
