"""The SQLite store of synthetic corpora: every run or filter is an immutable version.

One plain SQLite file (WAL mode, so a reader never blocks the writer and a killed process
leaves only whole transactions). Each document is committed the moment it exists.

Every logical write is one explicit ``BEGIN IMMEDIATE ... COMMIT`` (``Store.transaction``):
sqlite-utils commits each statement on its own unless a transaction is already open, so its
own grouping cannot be relied on.

One module: ``Store`` is the one class that writes store.db, and its transactions, leases and
crash recovery only hold if every write goes through it; split by table, those rules would
be spread over modules that must all keep them (the schema itself is in migrations.py).
"""

import contextlib
import datetime
import functools
import hashlib
import itertools
import json
import os
import signal
import socket
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import platformdirs
import sqlite_utils

from .. import supervisor
from ..errors import ZestError
from .migrations import migrate, pending

ENV_DB = "ZEST_DB"
# How long a writer waits for another process's write lock before giving up with one message.
# Writes are short (a document, a batch copy), so a lock held this long means a stuck process.
BUSY_SECONDS = float(os.environ.get("ZEST_BUSY_SECONDS", 60))


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# A lease whose heartbeat is older than this is stale when its holder is on another host
# (where its pid cannot be checked). Writers beat on every document they store.
LEASE_STALE_SECONDS = 600.0
HOST = socket.gethostname()


# Fault injection (tests/test_faults.py): ZEST_FAULT_KILL_AT=N sends SIGKILL to this process
# just before its Nth SQL statement, so kills land inside transactions as well as between
# them; ZEST_FAULT_COUNT=FILE writes how many statements a whole command ran.
_FAULT_KILL_AT = int(os.environ.get("ZEST_FAULT_KILL_AT") or 0)
_FAULT_COUNT = os.environ.get("ZEST_FAULT_COUNT")
_statements = itertools.count(1)


def _fault_trace(sql: str) -> None:
    n = next(_statements)
    if n == _FAULT_KILL_AT:
        os.kill(os.getpid(), signal.SIGKILL)
    if _FAULT_COUNT:
        Path(_FAULT_COUNT).write_text(str(n))


def _process_start(pid: int) -> str:
    """When a process started (Linux: clock ticks since boot), so a reused pid is told apart
    from the process that took a lease; "" where the platform does not say."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    fields = stat[stat.rindex(")") + 2 :].split()
    return "" if fields[0] in ("Z", "X") else fields[19]


def _alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if Path("/proc/self/stat").exists():
        now_start = _process_start(pid)
        return bool(now_start) and (not start or now_start == start)
    return True


def process_lease() -> dict:
    """The lease fields that name this process as a writer (a version's, an adapted
    model's): who, where, since when, and a heartbeat."""
    pid = os.getpid()
    return {
        "lease_pid": pid,
        "lease_host": HOST,
        "lease_start": _process_start(pid),
        "lease_heartbeat": time.time(),
    }


def _stopped(pid: int | None, host: str | None) -> str:
    """The error of a version whose writer was found dead."""
    who = f"pid {pid} on {host}" if pid else "writer"
    return f"interrupted: its {who} stopped"


def _json(value: Any) -> str:
    """JSON for a column; NaN and infinity are refused here, before anything is written,
    because SQLite's JSON functions reject them later (a version could never be finished)."""
    try:
        return json.dumps(value, sort_keys=True, allow_nan=False)
    except ValueError:
        raise ZestError(f"values must be finite numbers (not NaN or infinity): {value}") from None


def default_db_path() -> Path:
    """``$ZEST_DB``; else ``corpora/zest.db`` in a source checkout; else the user data dir."""
    if os.environ.get(ENV_DB):
        return Path(os.environ[ENV_DB])
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").exists() and (checkout / "corpora").is_dir():
        return checkout / "corpora" / "zest.db"
    return Path(platformdirs.user_data_dir("zest")) / "zest.db"


def _read_only_reason(path: Path) -> str | None:
    """Why the database cannot be written here, or None: a read-only filesystem, a file this
    user may not write, or a directory where SQLite cannot make the -wal and -shm files."""
    try:
        if os.statvfs(path.parent).f_flag & os.ST_RDONLY:
            return "a read-only filesystem"
    except OSError:
        return None  # no such directory: said elsewhere
    if path.exists() and not os.access(path, os.W_OK):
        return "a read-only file"
    wal_files = [Path(f"{path}{end}") for end in ("-wal", "-shm")]
    if not all(f.exists() for f in wal_files) and not os.access(path.parent, os.W_OK):
        return "a read-only directory"
    return None


class Store:
    """The store at ``path`` (default: ``default_db_path()``). ``read_only``: for commands
    that only read; the file must exist, is opened with SQLite's ``mode=ro`` and is never
    created, migrated or swept, so listing works on read-only media and a mistyped path is
    an error instead of a new empty database."""

    def __init__(self, path: str | os.PathLike | None = None, *, read_only: bool = False):
        if path is not None and not str(path).strip():
            raise ZestError("the database path is empty (give --db FILE or unset ZEST_DB)")
        self.path = Path(path) if path else default_db_path()
        self.given = path  # the --db (or $ZEST_DB) it was opened with, for advice lines
        self.read_only = read_only
        # Only the default location is made; a given path's missing directory is a typo.
        self._check_location(made_here=path is None and not os.environ.get(ENV_DB))
        try:
            conn = self._connect()
            if _FAULT_KILL_AT or _FAULT_COUNT:
                conn.set_trace_callback(_fault_trace)
            self.db = sqlite_utils.Database(conn)
            if read_only:
                self._check_schema()
                return
            self._retry_busy(self.db.enable_wal)
            migrate(self)
            try:
                self.sweep_stale()
            except sqlite3.OperationalError:  # a full disk: still readable
                pass
            # After the migrations: foreign_keys cannot change inside a transaction, and a
            # migration that rebuilds a table must run with it off.
            self.db.execute("PRAGMA foreign_keys = ON")
        except ZestError:
            raise
        except Exception as e:  # sqlite3.DatabaseError, OSError
            raise ZestError(f"cannot open the zest database {self.path}: {e}") from None

    def _check_location(self, made_here: bool) -> None:
        if self.read_only:
            if not self.path.is_file():
                raise ZestError(f"no zest database at {self.path}")
            return
        if made_here:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.parent.is_dir():
            raise ZestError(
                f"the directory of the zest database {self.path} does not exist"
                " (create it first, or give another --db)"
            )
        if reason := _read_only_reason(self.path):
            raise ZestError(
                f"the zest database {self.path} is read-only ({reason}) and this command"
                " writes to it; commands that only read (zest corpora list) still work"
            )

    def _connect(self) -> sqlite3.Connection:
        """A connection without implicit transactions (isolation_level=None: the only ones
        are those of ``transaction()``), waiting BUSY_SECONDS for another writer's lock (in
        force before WAL is enabled: switching a new file's journal mode takes a lock that
        concurrent first openers contend for)."""
        if not self.read_only:
            return self._sqlite(self.path)
        conn = self._sqlite(f"{self.path.resolve().as_uri()}?mode=ro")
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError:
            conn.close()
            if _read_only_reason(self.path) is None:
                raise
        # A read-only place where SQLite cannot make the -shm file it reads a WAL database
        # with: the file can still be read as immutable (nobody can be writing it there)
        # unless a -wal file holds changes that only the -shm would let it read.
        wal = Path(f"{self.path}-wal")
        if wal.exists() and wal.stat().st_size:
            raise ZestError(
                f"the zest database {self.path} is on a read-only filesystem with unsaved"
                f" changes in {wal.name}; open it once where it can be written"
            )
        return self._sqlite(f"{self.path.resolve().as_uri()}?immutable=1")

    @staticmethod
    def _sqlite(target: str | Path) -> sqlite3.Connection:
        return sqlite3.connect(
            target,
            uri=isinstance(target, str),
            timeout=BUSY_SECONDS,
            isolation_level=None,
            check_same_thread=False,
        )

    def _check_schema(self) -> None:
        """A read-only open cannot migrate: the file must be a zest database of this version."""
        missing = pending(self.db)
        if missing is None and self._wait_for_first_open():
            missing = pending(self.db)
        if missing is None:
            raise ZestError(f"{self.path} is not a zest database")
        if missing:
            raise ZestError(
                f"the zest database {self.path} was made by an older zest; any command that"
                " writes (for example zest run) upgrades it"
            )

    def _wait_for_first_open(self, seconds: float = 2.0) -> bool:
        """For a file with no tables yet, which another process may be creating (its first
        open: journal mode, then the migrations in one transaction): wait for its write lock
        as a writer would, for a moment, and say whether the schema has appeared. A reader
        that looked while the migrations ran said "not a zest database"."""
        if not os.access(self.path, os.W_OK):
            return False  # nobody can be creating it here
        deadline = time.monotonic() + seconds
        while not self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            if time.monotonic() > deadline:
                return False
            conn = self._sqlite(self.path)  # read-write: the file exists, nothing is made
            try:
                self._retry_busy(functools.partial(conn.execute, "BEGIN IMMEDIATE"))
                conn.execute("ROLLBACK")
            finally:
                conn.close()
            time.sleep(0.05)
        return True

    def _retry_busy(self, fn):
        """Run ``fn``, retrying while SQLite reports the file locked, up to BUSY_SECONDS.

        The busy handler already waits inside SQLite; a few cases (WAL recovery, a journal
        mode change) return SQLITE_BUSY at once, so they are retried here with a short sleep.
        """
        deadline = time.monotonic() + BUSY_SECONDS
        delay = 0.01
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e):
                    raise
                if time.monotonic() >= deadline:
                    raise ZestError(
                        f"the zest database {self.path} is locked by another process"
                        f" (waited {BUSY_SECONDS:.0f} s); try again when it finishes"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    @contextlib.contextmanager
    def transaction(self):
        """One write transaction: ``BEGIN IMMEDIATE`` (so the write lock is taken up front and
        a busy file is waited for here, not half-way), ``COMMIT`` on success, ``ROLLBACK`` on
        any exception. Nested uses join the outer transaction."""
        conn = self.db.conn
        if conn.in_transaction:
            yield self.db
            return
        self._retry_busy(lambda: conn.execute("BEGIN IMMEDIATE"))
        try:
            yield self.db
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # corpora and versions ------------------------------------------------------------
    def corpus_id(self, name: str) -> int:
        """The corpus's id, creating it if new (race-free: concurrent creators share one row)."""
        with self.transaction():
            self.db.execute(
                "INSERT OR IGNORE INTO corpora (name, created) VALUES (?, ?)", [name, now()]
            )
            return self.db.execute("SELECT id FROM corpora WHERE name = ?", [name]).fetchone()[0]

    def create_version(
        self, corpus: str, *, kind: str, config: dict, parent_id: int | None = None, **fields: Any
    ) -> int:
        """A new ``running`` version, leased to this process until ``finish``."""
        row = {
            "parent_id": parent_id,
            "kind": kind,
            "status": "running",
            "created": now(),
            "config": _json(config),
            **{k: _json(v) if isinstance(v, dict) else v for k, v in fields.items()},
            **self._my_lease(),
        }
        with self.transaction():
            row["corpus_id"] = self.corpus_id(corpus)
            version_id = self.db["versions"].insert(row).last_pk
            self._note_lease(version_id)
            return version_id

    def _note_lease(self, version_id: int) -> None:
        """Tell a supervising ``zest`` process (if any) that this one now writes the version,
        so it can mark it failed with the real cause should this process crash."""
        supervisor.note("lease", db=str(self.path.resolve()), version=version_id)

    def version(self, ref: int | str) -> dict:
        """A version by id, or the newest version of a corpus by name."""
        sql = """SELECT versions.*, corpora.name AS corpus FROM versions
                 JOIN corpora ON corpora.id = versions.corpus_id"""
        text = str(ref)
        if text.isdigit():
            rows = self.db.execute_returning_dicts(sql + " WHERE versions.id = ?", [int(text)])
        else:
            rows = self.db.execute_returning_dicts(
                sql + " WHERE corpora.name = ? ORDER BY versions.id DESC LIMIT 1", [text]
            )
        if not rows:
            raise ZestError(f"no corpus version '{ref}' in {self.path}")
        version = rows[0]
        for key in ("config", "prompt_hashes", "provenance", "resolved"):
            version[key] = json.loads(version[key]) if version[key] else {}
        return version

    def require_complete(self, ref: int | str) -> dict:
        """The version, which must be complete (as a filter parent or an encoder context)."""
        version = self.version(ref)
        if version["status"] != "complete":
            raise ZestError(
                f"version {version['id']} is {version['status']}, not complete"
                f" (finish it with: {supervisor.resume_command(version['id'], self.given)})"
            )
        return version

    def children(self, version_id: int) -> list[int]:
        return [
            row[0]
            for row in self.db.execute(
                "SELECT id FROM versions WHERE parent_id = ? ORDER BY id", [version_id]
            )
        ]

    def descendants(self, version_id: int) -> list[int]:
        """Every version below this one, deepest first (the order they can be deleted in)."""
        found = []
        for child in self.children(version_id):
            found.extend(self.descendants(child))
            found.append(child)
        return found

    def delete_versions(self, version_ids: Iterable[int]) -> None:
        """Delete childless versions (children before parents) and all their rows, in one
        transaction: all of them or none. DELETE is allowed on complete versions; only
        INSERT and UPDATE are frozen."""
        with self.transaction():
            for version_id in version_ids:
                if self.children(version_id):
                    raise ZestError(f"version {version_id} has child versions; remove them first")
                version = self.version(version_id)
                self._refuse_if_leased(version, "remove")
                self.db.execute("DELETE FROM drops WHERE version_id = ?", [version_id])
                for table in ("documents", "anchors", "exemplars"):
                    self.db.execute(f"DELETE FROM {table} WHERE version_id = ?", [version_id])
                self.db.execute("DELETE FROM versions WHERE id = ?", [version_id])
                self.db.execute(
                    """DELETE FROM corpora WHERE id = ? AND NOT EXISTS
                                   (SELECT 1 FROM versions WHERE corpus_id = ?)""",
                    [version["corpus_id"]] * 2,
                )

    def versions(self) -> list[dict]:
        return self.db.execute_returning_dicts(
            """SELECT versions.id, corpora.name AS corpus, versions.parent_id, versions.kind,
                      versions.status, versions.created, versions.generator, versions.model,
                      versions.strategy, versions.seed, versions.target_docs,
                      (SELECT count(*) FROM documents d WHERE d.version_id = versions.id)
                        AS documents,
                      versions.wall_seconds, versions.error, versions.lease_pid,
                      versions.lease_host, versions.lease_start, versions.lease_heartbeat,
                      versions.lease_supervisor
               FROM versions JOIN corpora ON corpora.id = versions.corpus_id
               ORDER BY versions.id"""
        )

    # one writer per version ---------------------------------------------------------
    def _my_lease(self) -> dict:
        return {**process_lease(), "lease_supervisor": supervisor.parent_pid()}

    @staticmethod
    def lease_holder(version: dict) -> str | None:
        """Who holds a live lease on the version ("pid N on HOST"), or None when nobody
        does: no lease, a dead process on this host, or a heartbeat too old on another."""
        pid, host = version.get("lease_pid"), version.get("lease_host")
        if pid is None or version.get("status") != "running":
            return None
        if host == HOST:
            watcher = version.get("lease_supervisor")
            live = _alive(pid, version.get("lease_start")) and (
                watcher is None or _alive(watcher, None)
            )
        else:
            live = time.time() - (version.get("lease_heartbeat") or 0) < LEASE_STALE_SECONDS
        return f"pid {pid} on {host}" if live else None

    def other_writer(self, version_id: int) -> str | None:
        """Who holds a live lease on the version when it is not this process, else None."""
        version = self.version(version_id)
        return None if self._mine(version) else self.lease_holder(version)

    def _mine(self, version: dict) -> bool:
        return (version.get("lease_pid"), version.get("lease_host")) == (os.getpid(), HOST)

    def _refuse_if_leased(self, version: dict, action: str) -> None:
        holder = self.lease_holder(version)
        if holder and not self._mine(version):
            raise ZestError(
                f"version {version['id']} is being written by {holder};"
                f" cannot {action} it until that process ends"
            )

    def acquire(self, ref: int | str, action: str = "resume") -> dict:
        """Lease an unfinished version to this process (taking over a stale lease), inside
        one transaction so two processes can never both hold it."""
        with self.transaction():
            version = self.version(ref)
            if version["status"] == "complete":
                raise ZestError(f"version {version['id']} is already complete")
            self._refuse_if_leased(version, action)
            self.db["versions"].update(
                version["id"], {"status": "running", "error": None, **self._my_lease()}
            )
            self._note_lease(version["id"])
        return self.version(version["id"])

    def record_crash(self, version_id: int, pid: int, error: str) -> bool:
        """Mark the version failed with ``error`` if process ``pid`` (now dead) was its writer:
        still ``running`` under its lease, or already swept by an open that saw it dead (whose
        generic "stopped" error this replaces). False when someone else has taken it since."""
        with self.transaction():
            changed = self.db.execute(
                """UPDATE versions SET status = 'failed', error = ?, lease_pid = NULL,
                   finished = coalesce(finished, ?)
                   WHERE id = ? AND (
                     (status = 'running' AND lease_pid = ? AND lease_host = ?)
                     OR (status = 'failed' AND error = ?))""",
                [error, now(), version_id, pid, HOST, _stopped(pid, HOST)],
            ).rowcount
        return bool(changed)

    def sweep_stale(self) -> list[int]:
        """Mark ``failed`` the running versions whose writer is gone (killed, crashed, power
        lost), so nothing stays ``running`` without a live writer. Returns their ids."""

        def stale():
            return [
                v
                for v in self.db.execute_returning_dicts(
                    "SELECT * FROM versions WHERE status = 'running'"
                )
                if not self.lease_holder(v) and not self._mine(v)
            ]

        if not stale():  # the usual case: no write lock taken
            return []
        with self.transaction():
            found = stale()
            for v in found:
                self.db.execute(
                    """UPDATE versions SET status = 'failed', error = ?, finished = ?,
                       lease_pid = NULL WHERE id = ?""",
                    [_stopped(v["lease_pid"], v["lease_host"]), now(), v["id"]],
                )
        return [v["id"] for v in found]

    def mark_failed(self, version_id: int, error: str) -> None:
        """The smallest write that records a failure and ends the lease: one row, for when a
        full disk leaves no room for ``finish``."""
        with self.transaction():
            self.db.execute(
                """UPDATE versions SET status = 'failed', error = ?, finished = ?,
                   lease_pid = NULL WHERE id = ?""",
                [error, now(), version_id],
            )

    def update_version(self, version_id: int, **fields: Any) -> None:
        values = {k: _json(v) if isinstance(v, dict) else v for k, v in fields.items()}
        with self.transaction():
            self.db["versions"].update(version_id, values)

    def finish(self, version_id: int, status: str, seconds: float, error: str | None = None):
        """Close one session of work on a version: add its time, set the new status, and
        record the generator's token usage so far in its provenance."""
        with self.transaction():
            if status == "complete":
                self._check_whole(version_id)
            usage = json.dumps(self.totals(version_id))
            self.db.execute(
                """UPDATE versions SET status = ?, error = ?, finished = ?,
                   wall_seconds = coalesce(wall_seconds, 0) + ?,
                   provenance = json_set(coalesce(provenance, '{}'), '$.usage', json(?)),
                   lease_pid = NULL
                   WHERE id = ?""",
                [status, error, now(), seconds, usage, version_id],
            )

    def _check_whole(self, version_id: int) -> None:
        """Refuse to call a version complete unless its rows are: every planned ordinal once
        and every anchor (runs, top-ups), or the parent's documents less the drops (filters).
        Runs inside the transaction that marks it complete."""
        v = self.version(version_id)
        have = self.db.execute(
            "SELECT count(*), count(DISTINCT ordinal) FROM documents WHERE version_id = ?",
            [version_id],
        ).fetchone()
        if v["kind"] == "filter":
            parent = self.totals(v["parent_id"])["documents"]
            dropped = self.db.execute(
                "SELECT count(*) FROM drops WHERE version_id = ?", [version_id]
            ).fetchone()[0]
            want = parent - dropped
        else:
            want = v["target_docs"]
            planned = self.db.execute(
                """SELECT count(*) FROM documents WHERE version_id = ?
                   AND ordinal >= 0 AND ordinal < ?""",
                [version_id, want],
            ).fetchone()[0]
            anchors = len(self.anchors(version_id))
            if planned != want or anchors != (v["n_anchors"] or 0):
                raise ZestError(
                    f"version {version_id} has {planned} of {want} planned documents and"
                    f" {anchors} of {v['n_anchors'] or 0} anchors; it is not complete"
                )
        if have[0] != want or have[1] != want:
            raise ZestError(
                f"version {version_id} has {have[0]} documents, expected {want}; it is not complete"
            )

    # exemplars, anchors, documents ---------------------------------------------------
    def add_exemplars(self, version_id: int, exemplars: Iterable[dict]) -> None:
        rows = [
            {
                "version_id": version_id,
                "ordinal": i,
                "title": e.get("title"),
                "text": e["text"],
                "source": e.get("source"),
            }
            for i, e in enumerate(exemplars)
        ]
        with self.transaction():
            self.db["exemplars"].insert_all(rows)

    def exemplars(self, version_id: int) -> list[dict]:
        return list(
            self.db["exemplars"].rows_where("version_id = ?", [version_id], order_by="ordinal")
        )

    def add_anchors(self, version_id: int, anchors: Iterable[dict]) -> None:
        """All anchors of a version in one transaction: there are all of them or none (a
        partial set left by an older zest is replaced)."""
        rows = [{"version_id": version_id, "ordinal": i, **a} for i, a in enumerate(anchors)]
        with self.transaction():
            if self.db.execute(
                "SELECT 1 FROM documents WHERE version_id = ? LIMIT 1", [version_id]
            ).fetchone():
                raise ZestError(
                    f"version {version_id} already has documents; its anchors cannot change"
                )
            self.db.execute("DELETE FROM anchors WHERE version_id = ?", [version_id])
            self.db["anchors"].insert_all(rows)

    def anchors(self, version_id: int) -> list[dict]:
        return list(
            self.db["anchors"].rows_where("version_id = ?", [version_id], order_by="ordinal")
        )

    def add_document(self, version_id: int, ordinal: int, text: str, **fields: Any) -> int:
        row = {
            "version_id": version_id,
            "ordinal": ordinal,
            "text": text,
            "content_hash": content_hash(text),
            "created": now(),
            **fields,
        }
        with self.transaction():
            doc_id = self.db["documents"].insert(row).last_pk
            self.db.execute(
                "UPDATE versions SET lease_heartbeat = ? WHERE id = ?", [time.time(), version_id]
            )
            return doc_id

    def documents(self, version_id: int) -> list[dict]:
        return self.db.execute_returning_dicts(
            """SELECT documents.*, anchors.text AS anchor FROM documents
               LEFT JOIN anchors ON anchors.id = documents.anchor_id
               WHERE documents.version_id = ? ORDER BY documents.ordinal""",
            [version_id],
        )

    def ordinals(self, version_id: int) -> set[int]:
        return {
            row[0]
            for row in self.db.execute(
                "SELECT ordinal FROM documents WHERE version_id = ?", [version_id]
            )
        }

    def totals(self, version_id: int) -> dict:
        """Token counts of a version, summed from its anchors and documents."""
        docs = self.db.execute(
            """SELECT count(*), coalesce(sum(token_count), 0), coalesce(sum(prompt_tokens), 0)
               FROM documents WHERE version_id = ?""",
            [version_id],
        ).fetchone()
        anchors = self.db.execute(
            """SELECT coalesce(sum(completion_tokens), 0), coalesce(sum(prompt_tokens), 0)
               FROM anchors WHERE version_id = ?""",
            [version_id],
        ).fetchone()
        return {
            "documents": docs[0],
            "completion_tokens": docs[1] + anchors[0],
            "prompt_tokens": docs[2] + anchors[1],
        }

    def add_drops(self, version_id: int, drops: Iterable[dict]) -> None:
        """Why each parent document was left out of a filter child (``document_id``,
        ``ordinal``, ``filter``, ``reason``, ``detail``)."""
        with self.transaction():
            self.db["drops"].insert_all({**d, "version_id": version_id} for d in drops)

    def drops(self, version_ids: Iterable[int]) -> list[dict]:
        """The drop rows recorded by these versions, with the dropped documents' text."""
        ids = list(version_ids)
        if not ids:
            return []
        marks = ", ".join("?" for _ in ids)
        return self.db.execute_returning_dicts(
            f"""SELECT drops.*, documents.text FROM drops
                JOIN documents ON documents.id = drops.document_id
                WHERE drops.version_id IN ({marks})
                ORDER BY drops.version_id, drops.ordinal""",
            ids,
        )

    def drop_counts(self, version_id: int) -> list[dict]:
        """Drops of one filter version grouped by (filter, reason), most frequent first."""
        return self.db.execute_returning_dicts(
            """SELECT filter, reason, count(*) AS n, min(ordinal) AS example FROM drops
               WHERE version_id = ? GROUP BY filter, reason ORDER BY n DESC""",
            [version_id],
        )

    def copy_into(self, parent_id: int, child_id: int, keep: Iterable[int] | None = None) -> None:
        """Copy exemplars, anchors and the documents whose ids are in ``keep`` (all if None)
        from a parent version into a new child, in one transaction."""
        keep_ids = None if keep is None else set(keep)
        with self.transaction():
            self.db["exemplars"].insert_all(
                {**{k: v for k, v in e.items() if k != "id"}, "version_id": child_id}
                for e in self.exemplars(parent_id)
            )
            anchor_map = {}
            for anchor in self.anchors(parent_id):
                row = {k: v for k, v in anchor.items() if k != "id"}
                anchor_map[anchor["id"]] = (
                    self.db["anchors"].insert({**row, "version_id": child_id}).last_pk
                )
            for doc in self.db["documents"].rows_where("version_id = ?", [parent_id]):
                if keep_ids is not None and doc["id"] not in keep_ids:
                    continue
                row = {k: v for k, v in doc.items() if k != "id"}
                row.update(version_id=child_id, anchor_id=anchor_map.get(doc["anchor_id"]))
                self.db["documents"].insert(row)

    # evaluation results and adapted models (written by zest_core/evaluation) ---------------
    def eval_result(self, result_id: int | str) -> dict | None:
        rows = self.db.execute_returning_dicts(
            "SELECT * FROM eval_results WHERE id = ?", [result_id]
        )
        return rows[0] if rows else None

    def latest_eval_result(self, key: str) -> dict | None:
        """The newest result stored under this settings key."""
        rows = self.db.execute_returning_dicts(
            "SELECT * FROM eval_results WHERE json_extract(settings, '$.key') = ?"
            " ORDER BY id DESC LIMIT 1",
            [key],
        )
        return rows[0] if rows else None

    def eval_results(self) -> list[dict]:
        """Every evaluation result, oldest first, with ``queries``: its per-query scores."""
        return self.db.execute_returning_dicts(
            """SELECT r.*, (SELECT count(*) FROM eval_query_scores q
                               WHERE q.result_id = r.id) AS queries
                   FROM eval_results r ORDER BY r.id"""
        )

    def adapted_model(self, model_id: int) -> dict | None:
        rows = self.db.execute_returning_dicts(
            "SELECT * FROM adapted_models WHERE id = ?", [model_id]
        )
        return rows[0] if rows else None

    def adapted_model_by_key(self, key: str) -> dict | None:
        rows = self.db.execute_returning_dicts("SELECT * FROM adapted_models WHERE key = ?", [key])
        return rows[0] if rows else None

    def adapted_models(self) -> list[dict]:
        return self.db.execute_returning_dicts("SELECT * FROM adapted_models ORDER BY id")

    def remove_adapted_model(self, model_id: int, path: str | None) -> bool:
        """Delete a registry row; True when another row still names its folder ``path``."""
        self.db.execute("DELETE FROM adapted_models WHERE id = ?", [model_id])
        return bool(
            path
            and self.db.execute("SELECT 1 FROM adapted_models WHERE path = ?", [path]).fetchone()
        )

    def add_adapted_model(self, fields: dict) -> int:
        """A new adapted_models row; its id."""
        with self.transaction():
            return self.db["adapted_models"].insert(fields).last_pk

    def update_adapted_model(self, model_id: int, fields: dict) -> None:
        """Set ``fields`` on one adapted_models row."""
        with self.transaction():
            self.db["adapted_models"].update(model_id, fields)

    def add_eval_result(self, result: dict, per_query: dict[str, dict]) -> int:
        """An eval_results row and its per-query scores, in one transaction; its id. One row
        per settings key: looked up under the write lock, a result scored again (by this
        process or another at the same time) replaces the row it had, keeping its id."""
        key = json.loads(result.get("settings") or "{}").get("key")
        with self.transaction():
            found = (
                key
                and self.db.execute(
                    "SELECT id FROM eval_results WHERE json_extract(settings, '$.key') = ?", [key]
                ).fetchone()
            )
            if found:
                result_id = found[0]
                self.db["eval_results"].update(result_id, result)
                self.db.execute("DELETE FROM eval_query_scores WHERE result_id = ?", [result_id])
            else:
                result_id = self.db["eval_results"].insert(result).last_pk
            self.db["eval_query_scores"].insert_all(
                {"result_id": result_id, "query_id": q, **s} for q, s in per_query.items()
            )
            return result_id

    def query_scores(self, result_id: int) -> list[dict]:
        """The eval_query_scores rows of one result."""
        return list(self.db["eval_query_scores"].rows_where("result_id = ?", [result_id]))

    # synthetic queries and tunings (written by zest_core/evaluation) -----------------------
    def missing_queries(self, version_id: int) -> list[dict]:
        """The version's documents (with ``anchor``) that have no stored query yet."""
        return self.db.execute_returning_dicts(
            """SELECT documents.*, anchors.text AS anchor FROM documents
           LEFT JOIN anchors ON anchors.id = documents.anchor_id
           LEFT JOIN synthetic_queries q ON q.document_id = documents.id
           WHERE documents.version_id = ? AND q.id IS NULL ORDER BY documents.ordinal""",
            [version_id],
        )

    def same_query(self, doc: dict, template_hash: str, generator: str, model, seeds) -> list[dict]:
        """A query written for this text at this plan position the same way (at most one)."""
        return self.db.execute_returning_dicts(
            f"""SELECT q.* FROM synthetic_queries q JOIN documents d ON d.id = q.document_id
                WHERE d.content_hash = ? AND d.ordinal = ? AND q.template_hash = ?
                AND q.generator = ? AND q.model = ? AND q.seed IN ({",".join("?" * len(seeds))})
                LIMIT 1""",
            [doc["content_hash"], doc["ordinal"], template_hash, generator, model, *seeds],
        )

    def add_query(self, row: dict) -> None:
        """Store one synthetic query."""
        with self.transaction():
            self.db["synthetic_queries"].insert(row)

    def stored_queries(self, version_id: int) -> dict[int, str]:
        """Document id -> its usable (non-empty) synthetic query."""
        return dict(
            self.db.execute(
                """SELECT q.document_id, q.text FROM synthetic_queries q JOIN documents d
               ON d.id = q.document_id WHERE d.version_id = ? AND q.text != ''""",
                [version_id],
            ).fetchall()
        )

    def add_tuning(self, row: dict) -> int:
        """A new tunings row; its id."""
        with self.transaction():
            return self.db["tunings"].insert(row).last_pk

    def latest_tuning(self, version_id: int, encoder: str, base: str) -> str | None:
        """The ``settings`` JSON of the newest tuning for these, or None."""
        row = self.db.execute(
            """SELECT settings FROM tunings WHERE version_id = ? AND encoder = ? AND base = ?
           ORDER BY id DESC LIMIT 1""",
            [version_id, encoder, base],
        ).fetchone()
        return row and row[0]

    # run lookups (zest_core/evaluation/planning.py) ---------------------------------------
    def run_versions(self) -> list[dict]:
        """Every run version's ``id``, ``status`` and ``resolved``, oldest first."""
        return self.db.execute_returning_dicts(
            "SELECT id, status, resolved FROM versions WHERE kind = 'run' ORDER BY id"
        )

    def stored_subset(self, parent_id: int, n: int) -> int | None:
        """The oldest complete subset version of ``parent_id`` with ``n`` documents."""
        row = self.db.execute(
            "SELECT id FROM versions WHERE kind = 'subset' AND parent_id = ?"
            " AND status = 'complete' AND json_extract(config, '$.n_docs') = ? ORDER BY id LIMIT 1",
            [parent_id, n],
        ).fetchone()
        return row and row[0]
