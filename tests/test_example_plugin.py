"""The out-of-tree example package ``examples/zest-echo``, installed as a user would install it
and driven through real ``zest`` processes: listed, its options shown, run, filtered.

It is installed by the README's test command; a missing install fails here (never skips), so
CI cannot silently stop exercising the plugin kit.
"""

import re
import shutil
import subprocess
import sys
import tomllib
from collections import Counter
from importlib import metadata
from pathlib import Path

import pytest

from zest_core.corpus.store import Store

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "zest-echo"
INSTALL = f'pip install -c constraints.txt -e ".[test]" {EXAMPLE.relative_to(ROOT)}'


@pytest.fixture(scope="module")
def zest_exe() -> str:
    try:
        version = metadata.version("zest-echo")
    except metadata.PackageNotFoundError:
        pytest.fail(f"the example plugin package is not installed; run: {INSTALL}")
    assert version == _declared_version()
    exe = shutil.which("zest", path=str(Path(sys.executable).parent)) or shutil.which("zest")
    if exe is None:
        pytest.fail(f"no zest command next to {sys.executable}; run: {INSTALL}")
    return exe


def _declared_version() -> str:
    return tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]["version"]


def zest(exe: str, *args, ok: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=300)
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def test_listed_with_its_version_and_what_it_provides(zest_exe):
    out = zest(zest_exe, "plugins").stdout
    rows = [line for line in out.splitlines() if " echo " in line]
    assert len(rows) == 1, out
    row = rows[0]
    assert _declared_version() in row
    for hook in ("register_generators", "register_filters", "register_commands"):
        assert hook in row
    assert "echo" in _provided(out, "generators") and "repeats" in _provided(out, "filters")


def _provided(out: str, kind: str) -> list[str]:
    line = next(line for line in out.splitlines() if line.startswith(f"{kind}:"))
    return [name.strip() for name in line.split(":", 1)[1].split(",")]


def test_options_listed_with_their_help(zest_exe):
    from zest_echo.filters import Repeats
    from zest_echo.generator import Echo

    out = " ".join(zest(zest_exe, "plugins", "--options").stdout.split())
    for cls in (Echo, Repeats):
        for key, spec in cls.options.items():
            assert key in out
            # the help may wrap in a table cell: compare its first words
            assert " ".join(spec.help.split()[:4]) in out, (cls.name, key)


@pytest.mark.slow
def test_run_filter_and_command(zest_exe, tmp_path):
    db = tmp_path / "z.db"
    args = [
        "run",
        "--generator",
        "echo",
        "--exemplars",
        ROOT / "corpora" / "scifact",
        "--anchors",
        2,
        "--docs",
        12,
        "-o",
        "sentences=8",
        "--seed",
        3,
        "--db",
    ]
    out = zest(zest_exe, *args, db).stdout
    assert "version 1 (scifact) complete: 12 documents over 2 anchors" in out
    store = Store(db)
    exemplars = store.exemplars(1)
    known = {
        s for e in exemplars for part in (e["title"] or "", e["text"]) for s in _sentences(part)
    }
    documents = store.documents(1)
    assert len(documents) == 12
    for doc in documents:  # an echo: every sentence is an exemplar's
        assert set(_sentences(doc["text"])) <= known, doc["text"]

    # the request seed makes the run reproducible
    zest(zest_exe, *args, tmp_path / "again.db")
    again = Store(tmp_path / "again.db").documents(1)
    assert [d["text"] for d in again] == [d["text"] for d in documents]

    out = zest(zest_exe, "filter", 1, "--with", "repeats", "--db", db).stdout
    repeated = {
        d["id"] for d in documents if max(Counter(_sentences(d["text"])).values(), default=0) > 1
    }
    assert 0 < len(repeated) < len(documents)  # the seed gives both kinds: the test can fail
    assert f"kept {len(documents) - len(repeated)}, dropped {len(repeated)}" in out
    drops = store.drops([2])
    assert {d["document_id"] for d in drops} == repeated
    assert {d["reason"] for d in drops} == {"repeated-sentence"}

    # options of a filter go through -o and are checked against their declaration
    out = zest(zest_exe, "filter", 1, "--with", "repeats", "-o", "max_repeats=8", "--db", db).stdout
    assert "dropped 0" in out
    bad = zest(zest_exe, "filter", 1, "--with", "repeats", "-o", "unit=word", "--db", db, ok=False)
    assert bad.returncode == 1 and bad.stderr.count("Error:") == 1 and "sentence" in bad.stderr

    found = [s for d in documents for s in _sentences(d["text"])]
    out = zest(zest_exe, "echo-stats", 1, "--db", db).stdout
    assert f"version 1: {len(found)} of {len(found)} sentences (100%)" in out
    # an unknown version: the plugin's ZestError is one error line, as for any zest command
    out = zest(zest_exe, "echo-stats", 999, "--db", db, ok=False)
    assert out.returncode == 1 and out.stderr.count("Error:") == 1


def test_bad_generator_option_is_one_error(zest_exe, tmp_path):
    bad = zest(
        zest_exe,
        "run",
        "--generator",
        "echo",
        "--exemplars",
        ROOT / "corpora" / "scifact",
        "--anchors",
        1,
        "--docs",
        1,
        "-o",
        "sentences=0",
        "--db",
        tmp_path / "z.db",
        ok=False,
    )
    assert bad.returncode == 1
    assert bad.stderr.count("Error:") == 1 and "sentences" in bad.stderr and "1" in bad.stderr


def _sentences(text: str) -> list[str]:
    """Split independently of the plugin, so a bug in its splitter cannot hide here."""
    pieces = [" ".join(p.split()) for p in re.split(r"(?<=[.!?])\s+", text)]
    return [p for p in pieces if p[-1:] in ".!?" and re.search(r"[^\W\d_]", p)]
