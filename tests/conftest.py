import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
ROOT = TESTS.parent
sys.path.insert(0, str(TESTS))

import fake_plugin  # noqa: E402

fake_plugin.register()

from zest_core.plugin.generation import Request  # noqa: E402

SCIFACT_EXEMPLARS = ROOT / "corpora" / "scifact"
# ``zest run`` arguments of a small, quick run with the fake generator (add --db and more).
FAKE_RUN = ("run", "--exemplars", SCIFACT_EXEMPLARS, "--generator", "fake")
FAKE_RUN += ("--anchors", 4, "--docs", 8)
# The BEIR datasets the data tests read: $ZEST_TEST_DATA, else ../shared/data/beir beside the
# checkout (docs/testing.md#the-test-data).
BEIR = Path(os.environ.get("ZEST_TEST_DATA") or ROOT.parent / "shared" / "data" / "beir")

# One short request, as the HTTP generator tests (Ollama, OpenAI-compatible) send it.
SHORT_REQUEST = Request(
    key=7,
    prompt="Document 1\nTitle: Vitamin D and bone density\nText:",
    max_tokens=8,
    temperature=0.8,
    seed=5,
    stop=("\n\n",),
)


def beir(name: str) -> Path:
    """The BEIR dataset ``name`` under ``BEIR``. When it is missing, a test that needs it is
    skipped with one line naming where to put it, so that a fresh clone's test command passes;
    under CI (``$CI`` set) or with ``ZEST_REQUIRE_TEST_DATA=1`` it fails instead, since a
    silent skip there would hide that the suite ran without real data."""
    path = BEIR / name
    if not (path / "corpus.jsonl").is_file():
        why = (
            f"no test data {path}: put the BEIR {name} directory (corpus.jsonl, queries.jsonl,"
            " qrels/) there or name its parent in $ZEST_TEST_DATA (docs/testing.md#the-test-data)"
        )
        if os.environ.get("CI") or os.environ.get("ZEST_REQUIRE_TEST_DATA") == "1":
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
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
            f"uncaught {type(result.exception).__name__}: {result.exception}\n{result.output}"
        )
    if code:
        errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1, result.output
    return result.output


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "zest.db"


@pytest.fixture
def store(db_path):
    from zest_core.corpus.store import Store

    return Store(db_path)


@pytest.fixture
def exemplars():
    from zest_core.corpus.exemplars import read_exemplars

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


def rank_metrics(scores, doc_ids: list[str], judged: list[set[str]]) -> tuple[float, float]:
    """Mean nDCG@10 and Recall@100 (fractions) of rankings by ``scores`` (one row per query,
    one column per document of ``doc_ids``) against each query's ``judged`` documents: binary
    gains, log2 discounts, computed here to check what mteb reports."""
    import numpy as np

    ndcg, recall = [], []
    for row, relevant in zip(scores, judged):
        ranked = [doc_ids[j] for j in np.argsort(-row, kind="stable")]
        dcg = sum(1 / np.log2(r + 2) for r, d in enumerate(ranked[:10]) if d in relevant)
        ndcg.append(dcg / sum(1 / np.log2(r + 2) for r in range(min(len(relevant), 10))))
        recall.append(len(set(ranked[:100]) & relevant) / len(relevant))
    return float(np.mean(ndcg)), float(np.mean(recall))


def fake_cli(*args) -> list[str]:
    """The command line of a real ``zest`` process that also has the fake generator."""
    return [sys.executable, str(TESTS / "fake_plugin.py"), *map(str, args)]
