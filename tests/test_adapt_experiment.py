"""``[[encoder]] adapted = true`` in ``zest experiment``: the fake generator, the tiny stand-in
model of tests/tiny_model.py, the SciFact and NFCorpus slices of tests/test_experiment.py.
The report holds the adapted arms and their references; a second run trains nothing."""

import re
import shutil

import pytest
from click.testing import CliRunner
from conftest import beir, clean_exit
from fake_plugin import WORDS
from test_experiment import beir_slice, read_csv
from tiny_model import tiny_model

from zest_core.cli import cli
from zest_core.corpus.store import Store

GRID = """
[experiment]
name = "adapted"
seeds = [0]
contexts = ["none", "real:12", "synthetic", "other-domain"]

[[dataset]]
name = "scifact-slice"
path = "data/scifact-slice"
other_domain = "nfcorpus-slice"
pool = 20

[[dataset]]
name = "nfcorpus-slice"
path = "data/nfcorpus-slice"
other_domain = "scifact-slice"
pool = 20

[[encoder]]
name = "hybrid"
model = "{tiny}"
adapted = true
adapt = {{ batch_size = 4 }}

[[encoder]]
name = "dense"
model = "{tiny}"
adapted = true
adapt = {{ batch_size = 4 }}

[generation]
generator = "fake"
k = 2
anchors = 2
docs = 8
"""
HYBRID = ["adapted(synthetic)", "adapted(synthetic)+synthetic", "adapted(other-domain)"]
HYBRID += ["adapted(other-domain)+synthetic", "adapted(real:12)", "adapted(real:12)+real:12"]
DENSE = ["adapted(synthetic)", "adapted(other-domain)", "adapted(real:12)"]


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    root = tmp_path_factory.mktemp("adapted")
    for name in ("scifact", "nfcorpus"):
        beir_slice(beir(name), root / "data" / f"{name}-slice")
    tiny = tiny_model(root / "tiny", WORDS)
    path = root / "adapted.toml"
    path.write_text(GRID.format(tiny=tiny))
    return path


def test_adapted_arms_their_references_and_a_rerun_that_trains_nothing(grid, tmp_path, monkeypatch):
    from fake_plugin import FakeGenerator
    from test_evaluate import counting

    from zest_core.evaluation import adapt

    db = tmp_path / "zest.db"
    args = ["experiment", str(grid), "--db", str(db), "--report", str(tmp_path / "r")]
    output = clean_exit(CliRunner().invoke(cli, args))
    store = Store(db)
    models = adapt.models(store)
    # per dataset and seed: its synthetic run and its real:12 sample; the other-domain model
    # is the other dataset's synthetic one, and dense and hybrid share every model
    assert len(models) == 4 and {m["status"] for m in models} == {"complete"}
    real = [v for v in store.versions() if v["kind"] == "real"]
    assert len(real) == 2 and all(v["documents"] == 12 for v in real)
    rows = read_csv(tmp_path / "r" / "results.csv", drop=())
    by = {}
    for row in rows:
        by.setdefault(row["encoder"], {}).setdefault(row["dataset"], {})[row["arm"]] = row
    hybrid, dense = "hybrid(%s) adapted[batch_size=4]", "dense(%s) adapted[batch_size=4]"
    tiny = str(grid.read_text().split('model = "')[1].split('"')[0])
    hybrid, dense = hybrid % tiny, dense % tiny
    base = ["none", "real:12", "synthetic", "other-domain"]
    for name in ("scifact-slice", "nfcorpus-slice"):
        assert list(by[hybrid][name]) == base + HYBRID
        assert list(by[dense][name]) == base + DENSE  # dense reads no context: no +C rows
    scifact = by[hybrid]["scifact-slice"]
    assert scifact["adapted(other-domain)"]["version"] == scifact["other-domain"]["version"]
    assert scifact["adapted(synthetic)"]["version"] == scifact["synthetic"]["version"]
    assert "model adapted:" in scifact["adapted(real:12)"]["context"]
    plain = {scifact[arm]["result_id"] for arm in base}  # scored anew, with the adapted model
    assert not plain & {scifact[arm]["result_id"] for arm in HYBRID}
    assert scifact["adapted(real:12)"]["version"] == str(real[0]["id"])
    text = (tmp_path / "r" / "report.md").read_text()
    assert "What the adapted encoder's gain is made of (scifact-slice, " in text
    for part in (
        "| context alone | synthetic minus none |",
        "| training alone | adapted(synthetic) minus none |",
        "| both | adapted(synthetic)+synthetic minus none |",
        "| domain part of the training | adapted(synthetic) minus adapted(other-domain) |",
        "| full-access training (queries over real:12) | adapted(real:12) minus none |",
        "| both minus the real:12 context alone | adapted(synthetic)+synthetic minus real:12 |",
    ):
        assert part in text, part
    assert "training alone is also both" in text  # the dense sections
    # issue #36: arms of one generation seed are paired by seed, those against none are not
    rows_of = {line.split(" | ")[0]: line for line in text.splitlines() if " minus " in line}
    assert "‡" in rows_of["| domain part of the training"]
    assert "‡" in rows_of["| training, over the context alone"]
    assert "‡" not in rows_of["| training alone"]
    assert {r["generation"] for r in rows if r["arm"].startswith("adapted(")} == {
        r["version"] for r in rows if r["arm"] == "synthetic"
    }
    plots = sorted(p.name for p in (tmp_path / "r").glob("adaptation_*.png"))
    assert len(plots) == 4 and all(f"({p})" in text for p in plots)
    assert re.search(r"adapted model \d+ trained on 8 pairs", output)

    # the same command again: no query written, no model trained, every result reused
    generated = counting(monkeypatch, FakeGenerator, "complete")
    trained = []
    monkeypatch.setattr(adapt, "train", lambda *a, **k: trained.append(a))
    again = clean_exit(CliRunner().invoke(cli, args))
    assert generated == [] and trained == []
    assert f"{len(rows)} results ({len(rows)} reused)" in again
    assert len(adapt.models(store)) == 4


BAD = [
    ("name = 'cde'\nadapted = true", "'cde' has no dense model to fine-tune"),
    ("adapted = true\ntuned = true", "adapted and tuned cannot be combined"),
    ("adapt = { epochs = 2 }", "adapt (zest adapt's options) needs adapted = true"),
    ("adapted = true\nadapt = { learning_rate = nan }", "learning_rate for 'adapt'"),
    ("adapted = true\nadapt = { loss = 'margin-mse' }", "zest adapt has no teacher"),
    ("adapted = true\nadapt = { warmup = 3 }", "unknown option warmup for 'adapt'"),
    ("adapted = 'yes'", "adapted must be true or false"),
]


@pytest.mark.parametrize("encoder, message", BAD)
def test_bad_adapted_encoders_give_one_error_line(grid, tmp_path, encoder, message):
    _refused(grid, tmp_path, GRID_HEAD.format(contexts='"none", "synthetic"') + encoder, message)


@pytest.mark.parametrize(
    "contexts, message",
    [
        ('"none", "real:12"', "add 'synthetic' to [experiment] contexts"),
        ('"synthetic", "real:all"', "name N (e.g. real:512), not 'real:all'"),
        ('"synthetic", "real"', "not 'real'"),
    ],
)
def test_adapted_needs_a_synthetic_context_and_a_sized_real_one(grid, tmp_path, contexts, message):
    _refused(grid, tmp_path, GRID_HEAD.format(contexts=contexts) + "adapted = true", message)


GRID_HEAD = """[experiment]
contexts = [{contexts}]
[[dataset]]
path = "data/scifact-slice"
[generation]
generator = "fake"
k = 2
anchors = 2
docs = 8
[[encoder]]
"""


def _refused(grid, tmp_path, text, message):
    bad = grid.parent / "bad.toml"
    bad.write_text(text)
    db = tmp_path / "zest.db"
    result = CliRunner().invoke(
        cli, ["experiment", str(bad), "--db", str(db), "--report", str(tmp_path / "report")]
    )
    out = clean_exit(result, 1)
    assert out.count("Error:") == 1 and message in out, out
    assert not (tmp_path / "report").exists()
    shutil.rmtree(db.parent / "models", ignore_errors=True)
