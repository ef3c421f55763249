"""An encoder the core has never heard of (tests/third_party_encoder.py) declares a tuning
grid and a trainable dense model on its class; ``zest tune`` and ``[[encoder]] adapted =
true`` then work for it with no change to the core. The tiny stand-in model of
tests/tiny_model.py, the fake generator and a SciFact slice keep it quick."""

import pytest
from click.testing import CliRunner
from conftest import beir, clean_exit
from fake_plugin import WORDS
from test_adapt_experiment import GRID_HEAD
from test_experiment import beir_slice, read_csv
from test_tuning import TOPICS, code, make_version
from third_party_encoder import register
from tiny_model import tiny_model

from zest_core.adaptation import adapt
from zest_core.cli import cli
from zest_core.corpus.store import Store

# the adapted-encoder tests' grid head: one SciFact slice, the fake generator, 8 documents
GRID = GRID_HEAD.replace("[generation]", "pool = 20\n[generation]").format(
    contexts='"none", "synthetic"'
)
GRID += 'name = "sharp"\nmodel = "{tiny}"\nadapted = true\nadapt = {{ batch_size = 4 }}\n'


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    register()
    root = tmp_path_factory.mktemp("third-party")
    words = WORDS + [w.strip(".,").lower() for topic in TOPICS for w in " ".join(topic).split()]
    return root, tiny_model(root / "tiny", words)


def test_zest_tune_searches_the_grid_the_encoder_declares(tiny, db_path, store):
    _, model = tiny
    vid = make_version(store, lambda i: f"{TOPICS[i][1]} {code(i)}")
    args = ["tune", str(vid), "--encoder", "sharp", "--model", model, "--db", str(db_path)]
    output = clean_exit(CliRunner().invoke(cli, args))
    assert "stored as tuning 1" in output
    [row] = store.db.execute("SELECT encoder, settings, grid FROM tunings").fetchall()
    assert row[0] == "sharp" and '"sharpness"' in row[1]
    assert row[2].count('"sharpness"') == 3  # one point per value of its grid


def test_adapted_arms_for_an_encoder_the_core_does_not_know(tiny, tmp_path):
    root, model = tiny
    beir_slice(beir("scifact"), root / "data" / "scifact-slice")
    grid = root / "third-party.toml"
    grid.write_text(GRID.format(tiny=model))
    db = tmp_path / "zest.db"
    args = ["experiment", str(grid), "--db", str(db), "--report", str(tmp_path / "r")]
    clean_exit(CliRunner().invoke(cli, args))
    models = adapt.models(Store(db))
    assert len(models) == 1 and models[0]["status"] == "complete"
    rows = read_csv(tmp_path / "r" / "results.csv", drop=())
    # it reads no context: the adapted arm is scored without one, and once
    assert [row["arm"] for row in rows] == ["none", "synthetic", "adapted(synthetic)"]
    assert all(row["encoder"].startswith("sharp(") for row in rows)
    assert "model adapted:" in rows[-1]["context"]
    text = (tmp_path / "r" / "report.md").read_text()
    assert "reads no context" in text and "| adapted(synthetic) |" in text
