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


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "zest.db"


@pytest.fixture
def store(db_path):
    from zest_core.store import Store

    return Store(db_path)


@pytest.fixture
def exemplars():
    from zest_core.exemplars import read_exemplars

    return read_exemplars([str(SCIFACT_EXEMPLARS)])


@pytest.fixture
def short_templates(tmp_path):
    """The shipped templates with shorter documents, to keep the test quick."""
    from zest_anchors import TEMPLATES

    text = (TEMPLATES / "hierarchical.toml").read_text()
    doc = text.index("[document]")
    path = tmp_path / "short.toml"
    path.write_text(text[:doc] + text[doc:].replace("max_tokens = 256", "max_tokens = 40"))
    return path


def fake_cli(*args) -> list[str]:
    """The command line of a real ``zest`` process that also has the fake generator."""
    return [sys.executable, str(TESTS / "fake_plugin.py"), *map(str, args)]
