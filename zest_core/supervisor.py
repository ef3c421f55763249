"""A native crash is one clear error, and nothing is lost.

llama.cpp, torch or a user's plugin can die from a signal (SIGSEGV, SIGILL, SIGBUS, SIGABRT,
SIGFPE) that no Python ``except`` can catch: the process is gone, the shell prints
"Segmentation fault", and the version it was writing stays ``running`` until a later command
notices its dead writer. So the ``zest`` command runs in two processes, as Ollama keeps its
runner apart from its server: this one forks at start and waits; the child does the work.
When the child dies from a signal, this process (which loaded no model and ran no plugin
code) marks the versions the child held ``failed`` with the real cause, prints one ``Error:``
line naming the signal, the generator and model, the known cause where there is one, and
the command that continues the work, and exits 128 + the signal number.

The child tells this process what it holds through a small notes file (``note``): each
version it leases and each generator it loads, one JSON line each (one short append a line,
so whole lines survive any crash). A pipe would need this process to read while waiting, and
a child that wrote faster than it read would block.

Ctrl-C and SIGTERM keep their meaning: a Ctrl-C typed at the terminal reaches both processes
(one process group), and this one ignores it and lets the child handle it; a signal sent to
this process by ``kill`` is forwarded to the child. If this process is SIGKILLed, the kernel
kills the child too (Linux ``PR_SET_PDEATHSIG``), as if it were one process.

``ZEST_SUPERVISOR=0`` runs everything in one process (a debugger, a profiler); where there is
no ``fork`` (Windows) that is the only way.
"""

import contextlib
import ctypes
import json
import os
import re
import shlex
import signal
import sys
import tempfile
from collections.abc import Callable

ENV_NOTES = "ZEST_SUPERVISOR_NOTES"
ENV_SWITCH = "ZEST_SUPERVISOR"
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
SIGNAL_WORDS = {
    signal.SIGSEGV: "segmentation fault",
    signal.SIGBUS: "bus error",
    signal.SIGILL: "illegal instruction",
    signal.SIGABRT: "aborted",
    signal.SIGFPE: "arithmetic fault",
    signal.SIGKILL: "killed, perhaps by the out-of-memory killer",
}
PR_SET_PDEATHSIG = 1
SI_USER_MAX = 0  # si_code <= 0: sent by a process (kill, sigqueue, tkill); > 0: by the kernel


def note(kind: str, **fields) -> None:
    """Tell the supervising process something it needs if this one crashes (no-op when
    unsupervised)."""
    path = os.environ.get(ENV_NOTES)
    if not path:
        return
    line = json.dumps({"kind": kind, "pid": os.getpid(), **fields}, default=str) + "\n"
    try:
        with open(path, "a") as f:
            f.write(line)
    except OSError:  # a full disk must not turn a working run into a failing one
        pass


@contextlib.contextmanager
def stage(what: str):
    """Tell the supervising process what this one is doing (``what``, e.g. "training the
    adapted encoder"), so a crash line names the stage that was running, not the generator
    loaded before it; on exit, the stage around it (or the generator) is current again."""
    note("stage", what=what, state="start")
    try:
        yield
    finally:
        note("stage", what=what, state="end")


def running(notes: list[dict]) -> dict | None:
    """What the child was doing when it died: the innermost stage still open, else the
    generator loaded last (``{"kind": "generator", ...}`` or ``{"kind": "stage", ...}``)."""
    current: list[dict] = []
    for n in notes:
        if n["kind"] == "generator":
            current = [n]  # a generator in use: the stages before it are over
        elif n["kind"] == "stage" and n.get("state") == "start":
            current.append(n)
        elif n["kind"] == "stage" and current and current[-1].get("what") == n.get("what"):
            current.pop()
    return current[-1] if current else None


def parent_pid() -> int | None:
    """The supervising process of this one, or None when it runs unsupervised."""
    return os.getppid() if os.environ.get(ENV_NOTES) else None


def read_notes(path: str) -> list[dict]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return []
    notes = []
    for line in lines:
        try:
            notes.append(json.loads(line))
        except ValueError:  # a line cut short by the crash
            continue
    return notes


def supervised(work: Callable[[], int]) -> int:
    """Run ``work`` (returning an exit status) in a child process and return its status, or
    report the signal that killed it; in this process where supervision is off."""
    if os.environ.get(ENV_SWITCH) == "0" or not hasattr(os, "fork"):
        return work()
    _sweep_notes()
    fd, notes = tempfile.mkstemp(prefix=f"zest-{os.getpid()}-", suffix=".notes")
    os.close(fd)
    # Blocked before the fork, so no signal meant for the child's work can arrive in the gap
    # before this process waits for it; the child unblocks them at once.
    waited = {*FORWARDED, signal.SIGCHLD}
    signal.pthread_sigmask(signal.SIG_BLOCK, waited)
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        _become_child(parent, notes, waited)
        try:
            status = work()
        except SystemExit as e:
            status = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except BaseException:
            import traceback

            traceback.print_exc()
            status = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    try:
        status = _wait(pid)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, waited)
    try:
        if status >= 0:
            return status
        return report_crash(-status, pid, read_notes(notes), sys.argv)
    finally:
        os.unlink(notes)


def _sweep_notes() -> None:
    """Remove the notes files of ``zest`` processes that died without removing their own
    (SIGKILL): each is named after its process, ``zest-PID-*.notes``, in the temp folder."""
    folder = tempfile.gettempdir()
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        found = re.fullmatch(r"zest-(\d+)-\w+\.notes", name)
        if not found or _alive(int(found[1])):
            continue
        path = os.path.join(folder, name)
        try:
            if os.stat(path).st_uid == os.getuid():
                os.unlink(path)
        except OSError:  # removed meanwhile, or not ours to remove
            pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _become_child(parent: int, notes: str, waited: set) -> None:
    os.environ[ENV_NOTES] = notes
    try:  # die with the supervisor: a SIGKILL to `zest` must stop the work too
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the child may outlive a SIGKILLed parent
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(128 + signal.SIGKILL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, waited)


def _wait(pid: int) -> int:
    """Wait for the child, forwarding signals sent to this process; its exit status, or
    minus the signal that killed it."""
    while True:
        info = signal.sigtimedwait({*FORWARDED, signal.SIGCHLD}, 1.0)
        if info is not None and info.si_signo != signal.SIGCHLD:
            # From the terminal (kernel-sent) the child has its own copy already.
            if info.si_code <= SI_USER_MAX:
                try:
                    os.kill(pid, info.si_signo)
                except ProcessLookupError:
                    pass
            continue
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)


def report_crash(signum: int, pid: int, notes: list[dict], argv: list[str]) -> int:
    """Mark what the dead child held failed with the real cause and print one line."""
    name = signal.Signals(signum).name
    interrupted = signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    if interrupted:
        cause = f"interrupted ({name})"
    else:
        cause = f"{name} ({SIGNAL_WORDS.get(signum, 'killed by a signal')})"
    current = running(notes)
    gen = current if current and current["kind"] == "generator" else None
    if gen:
        doing = f"generating with the generator {gen['name']} ({gen['model']})"
    else:
        doing = current["what"] if current else None
    while_ = f" while {doing}" if doing else ""
    held = _mark_failed(notes, pid, f"{cause}{while_}")
    if gen and not interrupted:  # the native code that was running: it crashed
        parts = [f"the generator {gen['name']} ({gen['model']}) crashed: {cause}"]
    elif interrupted:
        parts = [f"{_command(argv)} was {cause}{while_}"]
    else:
        parts = [f"{_command(argv)} died{while_}: {cause}"]
    if gen and not interrupted and gen.get("hint"):
        parts.append(gen["hint"])
    if held:
        ids = ", ".join(str(v["version"]) for v in held)
        parts.append(f"version {ids} is marked failed and keeps the documents it has")
    parts.append(continue_advice(argv, held))
    from .console import stderr

    stderr.print("Error: " + ". ".join(parts), soft_wrap=True)
    return 128 + signum


def _mark_failed(notes: list[dict], pid: int, error: str) -> list[dict]:
    """The versions the child leased and left unfinished, each now failed with ``error``."""
    from .corpus.store import Store
    from .errors import ZestError

    held, seen = [], set()
    for n in notes:
        key = (n["db"], n["version"]) if n["kind"] == "lease" else None
        if key is None or key in seen:
            continue
        seen.add(key)
        try:
            if Store(n["db"]).record_crash(n["version"], pid, error):
                held.append(n)
        except ZestError:  # the store itself is unreadable: the line still says what died
            continue
    return held


def continue_advice(argv: list[str], held: list[dict]) -> str:
    """The exact command that continues the work: ``zest run --resume N`` for one version
    of ``zest run``, else the same command again (``zest experiment`` and ``zest tune`` reuse
    what is done)."""
    command = _command(argv)
    if command == "zest run" and len(held) == 1:
        return f"Continue it with: {resume_command(held[0]['version'], _db_argument(argv))}"
    return f"Continue with the same command: {shlex.join(['zest', *argv[1:]])}"


def resume_command(version_id: int, db: str | os.PathLike | None) -> str:
    """``zest run --resume N``, with ``--db`` naming the database when one was given: every
    advice line names the database it was given (without it, N is another store's)."""
    words = ["zest", "run", "--resume", str(version_id)]
    return shlex.join(words + (["--db", str(db)] if db else []))


def _command(argv: list[str]) -> str:
    words = [a for a in argv[1:] if not a.startswith("-")]
    return f"zest {words[0]}" if words else "zest"


def _db_argument(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--db" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--db="):
            return arg.split("=", 1)[1]
    return None
