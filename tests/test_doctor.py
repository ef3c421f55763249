"""``zest doctor``: each check in a child process, one line each, the real model and encoder."""

import importlib.metadata

import pytest
from click.testing import CliRunner
from conftest import clean_exit

from zest_core.cli import cli
from zest_core.commands import doctor


@pytest.mark.model
def test_doctor_reports_every_line_and_the_generator_decodes(tmp_path):
    db = tmp_path / "sub" / "z.db"
    out = clean_exit(CliRunner().invoke(cli, ["doctor", "--db", str(db)]))
    lines = {line[5:15].strip(): line for line in out.splitlines() if line[5:15].strip()}
    assert set(lines) >= {"python", "zest", "packages", "cpu", "generator", "encoder", "extras"}
    assert lines["generator"].startswith("ok ") and "decoded" in lines["generator"]
    assert "tokens/s" in lines["generator"] and "extra_buffers=" in lines["generator"]
    assert (
        " on an AVX-512 CPU;" in lines["generator"] or " on an AVX2-only CPU;" in lines["generator"]
    )
    assert lines["encoder"].startswith("ok ") and "384 dimensions" in lines["encoder"]
    assert "AVX" in lines["cpu"] or "NEON" in lines["cpu"]
    assert lines["store"].startswith("ok ") and str(db) in lines["store"]
    assert "will be created" in lines["store"] and not db.parent.exists()  # nothing written


@pytest.mark.model
def test_a_failing_check_is_a_line_with_the_reason_and_status_1(tmp_path):
    result = CliRunner().invoke(
        cli, ["doctor", "-o", "extra_buffers=sometimes", "--db", str(tmp_path / "z.db")]
    )
    assert result.exit_code == 1, result.output
    line = next(x for x in result.output.splitlines() if x[5:15].strip() == "generator")
    assert line.startswith("FAIL") and "extra_buffers" in line and "auto" in line


def test_an_extra_is_installed_only_when_each_requirement_is_met():
    """On the test install (every extra): all of them, self-references (``zest-core[embed]``)
    and other distributions' extras (``llama-cpp-python[server]``) followed. A requirement
    that is absent, at a version outside its specifier, or whose extra is unmet, is reported."""
    from packaging.requirements import Requirement

    extras = doctor._own().metadata.get_all("Provides-Extra")
    assert {"all", "server", "embed", "test"} <= set(extras)
    assert {
        extra: doctor._missing(doctor.DISTRIBUTION, [extra]) for extra in extras
    } == dict.fromkeys(extras, [])
    assert doctor._extras_lines() == [("--", "extras", f"installed: {', '.join(sorted(extras))}")]
    numpy = importlib.metadata.version("numpy")
    assert doctor._unmet(Requirement("numpy>=999"), set()) == [f"numpy {numpy} is not >=999"]
    assert doctor._unmet(Requirement("zest-no-such-dist"), set()) == ["zest-no-such-dist missing"]
    assert doctor._unmet(Requirement("llama-cpp-python[server]"), set()) == []
    assert doctor._unmet(Requirement("llama-cpp-python[no-such-extra]"), set()) == []
