import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
ROOT = TESTS.parent
sys.path.insert(0, str(TESTS))

import fake_plugin  # noqa: E402

fake_plugin.register()

SCIFACT_EXEMPLARS = ROOT / "corpora" / "scifact"
BEIR = ROOT.parent / "shared" / "data" / "beir"


def beir(name: str) -> Path:
    """The shared BEIR dataset ``name``; a test that needs it fails, naming the path, when it
    is missing (a silent skip would hide that the suite ran without real data)."""
    path = BEIR / name
    if not (path / "corpus.jsonl").is_file():
        pytest.fail(f"missing shared data {path}: put the BEIR {name} directory (corpus.jsonl,"
                    f" queries.jsonl, qrels/) there, beside the checkout (see docs/testing.md)",
                    pytrace=False)
    return path


@pytest.fixture
def fake_requests():
    """The requests the fake generator receives in this process during the test."""
    fake_plugin.REQUESTS.clear()
    yield fake_plugin.REQUESTS
    fake_plugin.REQUESTS.clear()


def clean_exit(result, code: int = 0) -> str:
    """A CliRunner ``result`` that ended with ``code`` through zest's own error handling, not
    an uncaught exception (CliRunner catches those into ``result.exception``; they never reach
    ``result.output``). Returns the output."""
    assert result.exit_code == code, result.output
    if result.exception is not None:  # exit codes travel as SystemExit; anything else escaped
        assert isinstance(result.exception, SystemExit), (
            f"uncaught {type(result.exception).__name__}: {result.exception}\n{result.output}")
    if code:
        errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, result.output
    return result.output


def fake_cli(*args) -> list[str]:
    """The command line of a real ``zest`` process that also has the fake generator."""
    return [sys.executable, str(TESTS / "fake_plugin.py"), *map(str, args)]
