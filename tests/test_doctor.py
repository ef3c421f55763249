"""``zest doctor``: each check in a child process, one line each, the real model and encoder."""

import pytest
from click.testing import CliRunner
from conftest import clean_exit

from zest_core.cli import cli

pytestmark = pytest.mark.model


def test_doctor_reports_every_line_and_the_generator_decodes(tmp_path):
    db = tmp_path / "sub" / "z.db"
    out = clean_exit(CliRunner().invoke(cli, ["doctor", "--db", str(db)]))
    lines = {line[5:15].strip(): line for line in out.splitlines() if line[5:15].strip()}
    assert set(lines) >= {"python", "zest", "packages", "cpu", "generator", "encoder", "extras"}
    assert lines["generator"].startswith("ok ") and "decoded" in lines["generator"]
    assert "tokens/s" in lines["generator"] and "extra_buffers=" in lines["generator"]
    assert lines["encoder"].startswith("ok ") and "384 dimensions" in lines["encoder"]
    assert "AVX" in lines["cpu"] or "NEON" in lines["cpu"]
    assert lines["store"].startswith("ok ") and str(db) in lines["store"]
    assert "will be created" in lines["store"] and not db.parent.exists()  # nothing written


def test_a_failing_check_is_a_line_with_the_reason_and_status_1(tmp_path):
    result = CliRunner().invoke(
        cli, ["doctor", "-o", "extra_buffers=sometimes", "--db", str(tmp_path / "z.db")]
    )
    assert result.exit_code == 1, result.output
    line = next(x for x in result.output.splitlines() if x[5:15].strip() == "generator")
    assert line.startswith("FAIL") and "extra_buffers" in line and "auto" in line
