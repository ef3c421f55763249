"""The newcomer's path, proven on a real base install: ``.ci/newcomer`` builds a new venv,
``pip install .`` (not editable, no extras), then from outside the checkout runs ``zest doctor``
and a short ``zest run`` with default options. ``.ci/run`` runs it as CI's first stage and hands
its folder over in ``$ZEST_NEWCOMER``, so the suite checks that stage's output instead of
installing everything again; alone, the test runs the script itself (PyPI or pip's cache
needed, a few minutes)."""

import os
import re
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def newcomer(tmp_path_factory) -> Path:
    given = os.environ.get("ZEST_NEWCOMER")
    if given and (Path(given) / "run.txt").is_file():
        return Path(given)
    work = tmp_path_factory.mktemp("newcomer")
    done = subprocess.run(
        [str(ROOT / ".ci" / "newcomer"), str(work)],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return work


def test_the_default_run_completes_on_a_base_install(newcomer):
    run = (newcomer / "run.txt").read_text()
    assert "vocab auto -> trimmed" in run, run  # the default path: the trimmed model
    with sqlite3.connect(newcomer / "zest.db") as db:
        tables = {name for (name,) in db.execute("select name from sqlite_master")}
        assert "documents" in tables, tables
        assert db.execute("select count(*) from documents").fetchone()[0] == 8
    installed = subprocess.run(
        [newcomer / "venv" / "bin" / "python", "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.lower()
    assert "zest-core==" in installed
    assert "wordfreq" not in installed  # its English frequencies ship in the package


def test_doctor_on_a_base_install_has_no_fail_and_no_extra(newcomer):
    doctor = (newcomer / "doctor.txt").read_text()
    lines = doctor.splitlines()
    assert not [line for line in lines if line.startswith("FAIL")], doctor
    assert re.search(r"^ok\s+generator\s+llama-cpp", doctor, re.M), doctor
    assert re.search(r"^--\s+extras\s+installed: none$", doctor, re.M), doctor
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for extra in extras:
        line = next((line for line in lines if f" {extra} not installed (" in line), None)
        assert line is not None, f"no line for the extra {extra}:\n{doctor}"
        assert line.endswith(f"pip install 'zest-core[{extra}]'"), line  # not a checkout
