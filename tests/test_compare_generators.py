"""The same tiny ``zest run`` through the embedded llama.cpp default, an OpenAI-compatible
server (llama-cpp-python's) and an Ollama-API server, all on the real Gemma 3 270M: three
complete versions alike in what they store, then ``zest compare`` over them."""

import json

import pytest
from click.testing import CliRunner
from conftest import SCIFACT_EXEMPLARS, clean_exit
from ollama_server import ollama_command, openai_command, serving, small_templates

from zest_core.cli import cli
from zest_core.corpus.store import Store

pytestmark = [pytest.mark.model, pytest.mark.slow]

N_DOCS = 2


def zest(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    clean_exit(result)
    return result.stdout


@pytest.fixture(scope="module")
def versions(tmp_path_factory):
    """Versions 1, 2, 3 made by llama-cpp, openai and ollama in one SQLite file."""
    tmp = tmp_path_factory.mktemp("generators")
    db = tmp / "zest.db"
    run = [
        "run",
        "--exemplars",
        SCIFACT_EXEMPLARS,
        "--k",
        2,
        "--templates",
        small_templates(tmp),
        "--anchors",
        1,
        "--docs",
        N_DOCS,
        "--seed",
        4,
        "--db",
        db,
    ]
    zest(*run)
    key = "k"
    with serving(openai_command(key), "/v1/models") as server, pytest.MonkeyPatch.context() as env:
        env.setenv("OPENAI_API_KEY", key)
        zest(*run, "--generator", "openai", "--base-url", f"http://{server.address}/v1")
    with serving(ollama_command, "/api/tags") as server:
        zest(*run, "--generator", "ollama", "--host", server.address)
    return db


def test_every_generator_stores_the_same_kind_of_version(versions):
    store = Store(versions)
    made = [store.version(v) for v in (1, 2, 3)]
    assert [v["generator"] for v in made] == ["llama-cpp", "openai", "ollama"]
    assert [v["model"] for v in made] == ["gemma-3-270m-q4_k_m.gguf", "gemma3-270m", "gemma3:270m"]
    filled = []
    for v in made:
        assert v["status"] == "complete" and v["wall_seconds"] > 0
        assert {"generator", "model", "options"} <= set(v["provenance"])
        docs = store.documents(v["id"])
        assert [d["ordinal"] for d in docs] == list(range(N_DOCS))
        assert all(d["finish_reason"] in ("stop", "length", "loop", "sentence") for d in docs)
        filled.append(
            {k for d in docs + store.anchors(v["id"]) for k, x in d.items() if x not in (None, "")}
        )
    assert filled[0] == filled[1] == filled[2]  # no generator leaves a column empty


def test_compare_prints_them_side_by_side(versions):
    rows = [
        json.loads(line)
        for line in zest("compare", 1, 2, 3, "--json", "--db", versions).splitlines()
    ]
    store = Store(versions)
    for row in rows:
        totals = store.totals(row["version"])
        assert (
            row["documents"] == N_DOCS
            and row["completion_tokens"] == totals["completion_tokens"] > 0
        )
        assert row["tokens_per_second"] > 0 and 0 < row["distinct_1"] <= 1
        assert 0 < row["exemplar_vocabulary_overlap"] <= 1 and row["mean_document_words"] > 0
    table = zest("compare", 1, 2, 3, "--db", versions)
    generator_line = next(line for line in table.splitlines() if "generator" in line)
    assert all(name in generator_line for name in ("llama-cpp", "openai", "ollama"))
