"""zest adapt: a tiny stand-in model learns a constructed corpus's pairs, the registry and
zest models, adapted:ID in the encoders and the API, determinism, a SIGKILL then a clean
restart, and bad input refused before any work. One test trains the real MiniLM (slow)."""

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import clean_exit
from test_tuning import TOPICS, make_version
from tiny_model import tiny_model

from zest_core import ZestError
from zest_core.adaptation import adapt
from zest_core.cli import cli
from zest_core.contexts.api import load_encoder

# Many passes at a high rate: the tiny random model must memorise the pairs in seconds.
FAST = {"epochs": 10, "learning_rate": 3e-3, "batch_size": 4}


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """The tiny stand-in model (tests/tiny_model.py) over the constructed topics' words."""
    words = {w for pair in TOPICS for text in pair for w in re.findall(r"[a-z]+", text.lower())}
    return tiny_model(tmp_path_factory.mktemp("tiny"), words)


def paraphrase_version(store, n=20) -> int:
    """Documents on twenty topics; each query paraphrases its document with no shared word."""
    return make_version(store, lambda i: TOPICS[i][1], n)


def own_rank_mrr(encoder, store, vid) -> float:
    docs = store.documents(vid)
    queries = adapt.stored_queries(store, vid)
    targets = [adapt._target(d) for d in docs]
    hits = encoder.search([queries[d["id"]] for d in docs], targets, top_k=len(docs))
    ranks = [next(r for r, h in enumerate(row, 1) if h.id == i) for i, row in enumerate(hits)]
    return float(np.mean([1 / r for r in ranks]))


def test_pairs_teach_what_the_base_model_ranks_wrong(store, tiny, tmp_path):
    vid = paraphrase_version(store)
    before = own_rank_mrr(load_encoder("dense", model=tiny), store, vid)
    row = adapt.adapt(store, vid, tiny, **FAST)
    assert row["status"] == "complete" and not row["reused"] and row["pairs"] == 20
    after = own_rank_mrr(load_encoder("dense", store=store, adapted=row["id"]), store, vid)
    assert before < 0.5 and after > 0.9, (before, after)
    # the registry row and the folder
    assert row["fingerprint"] == adapt.fingerprint(adapt.Path(row["path"]))
    assert row["base_model"].endswith("st") and row["version_id"] == vid
    assert json.loads(row["options"])["epochs"] == 10 and row["wall_seconds"] > 0
    manifest = json.loads((adapt.Path(row["path"]) / adapt.MANIFEST).read_text())
    assert manifest["fingerprint"] == row["fingerprint"]
    assert not list((tmp_path / "models").glob(".partial-*"))
    # the same inputs again: the finished model is reused, not trained twice
    again = adapt.adapt(store, vid, tiny, **FAST)
    assert again["reused"] and again["id"] == row["id"]
    # the hybrid takes the adapted dense side too
    hybrid = load_encoder("hybrid", vid, store=store, adapted=row["id"])
    assert hybrid.encoder.path == adapt.Path(row["path"])
    assert hybrid.metadata()["model"] == f"adapted:{row['id']}"


def test_same_seed_same_weights_other_seed_other_weights(tmp_path, tiny):
    from zest_core.corpus.store import Store

    prints = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        (tmp_path / name).mkdir()
        store = Store(tmp_path / name / "zest.db")
        vid = paraphrase_version(store, 12)
        row = adapt.adapt(store, vid, tiny, epochs=2, batch_size=4, seed=seed)
        prints.append(row["fingerprint"])
    assert prints[0] == prints[1] != prints[2]


def test_options_shape_the_training_pairs(store, tiny):
    vid = paraphrase_version(store, 10)
    docs, queries = store.documents(vid), adapt.stored_queries(store, vid)
    options = adapt.check_options({"hard_negatives": 2})
    rows, counts = adapt.training_pairs(docs, queries, options, adapt.Path(tiny), tiny)
    assert counts == {"queries": 10, "dropped": 0, "anchor_pairs": 0}
    assert all(
        len(r) == 4 and r["positive"] not in (r["negative_1"], r["negative_2"]) for r in rows
    )
    # the round trip under a random model drops some queries; top 10 of 10 keeps all
    tight = adapt.check_options({"round_trip": 1})
    _, counts = adapt.training_pairs(docs, queries, tight, adapt.Path(tiny), tiny)
    assert 0 < counts["dropped"] < 10
    loose = adapt.check_options({"round_trip": 10})
    assert adapt.training_pairs(docs, queries, loose, adapt.Path(tiny), tiny)[1]["dropped"] == 0


@pytest.mark.slow
def test_cli_adapt_models_eval_and_rm(db_path, store, tiny, tmp_path):
    vid = paraphrase_version(store)
    runner = CliRunner()
    args = ["adapt", str(vid), "--model", tiny, "--db", str(db_path)]
    args += ["--epochs", "10", "--learning-rate", "3e-3", "--batch-size", "4"]
    out = clean_exit(runner.invoke(cli, args))
    assert "adapted model 1" in out and "--model adapted:1" in out
    listed = clean_exit(runner.invoke(cli, ["models", "--db", str(db_path)]))
    assert "complete" in listed and f"version {vid}" in listed
    (row,) = [
        json.loads(line)
        for line in clean_exit(runner.invoke(cli, ["models", "--json", "--db", str(db_path)]))
        .strip()
        .splitlines()
    ]
    assert row["status"] == "complete" and row["pairs"] == 20
    # zest eval on a BEIR set made of the same topics: the adapted model beats its base
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text(
        "".join(
            json.dumps({"_id": f"d{i}", "title": "", "text": t[0]}) + "\n"
            for i, t in enumerate(TOPICS)
        )
    )
    (beir / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": f"q{i}", "text": t[1]}) + "\n" for i, t in enumerate(TOPICS))
    )
    (beir / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(len(TOPICS)))
    )
    scores = []
    for model in (tiny, "adapted:1"):
        clean_exit(
            runner.invoke(
                cli,
                ["eval", "--dataset", str(beir), "--encoder", "dense", "--model", model]
                + ["--db", str(db_path)],
            )
        )
        scores.append(
            store.db.execute("SELECT ndcg_at_10 FROM eval_results ORDER BY id DESC").fetchone()[0]
        )
    assert scores[1] > scores[0] + 0.2, scores
    # an unknown model, then rm
    out = clean_exit(
        runner.invoke(
            cli,
            ["eval", "--dataset", str(beir), "--encoder", "dense", "--model", "adapted:9"]
            + ["--db", str(db_path)],
        ),
        1,
    )
    assert "no adapted model 9" in out
    path = adapt.Path(row["path"])
    assert "removed adapted model 1" in clean_exit(
        runner.invoke(cli, ["models", "rm", "1", "--db", str(db_path)])
    )
    assert not path.exists() and not adapt.models(store)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--learning-rate", "nan"], "learning_rate for 'adapt' must be a finite number"),
        (["--learning-rate", "0"], "learning_rate for 'adapt' must be above 0"),
        (["--loss", "margin-mse"], "zest adapt has no teacher"),
        (["--loss", "infonce"], "must be mnrl or margin-mse"),
        (["--batch-size", "1"], "batch_size for 'adapt' must be at least 2"),
        (["--epochs", "two"], "epochs for 'adapt' must be a whole number"),
        (["--model", "/nowhere"], "not a local sentence-transformers model folder"),
        (["--model", "adapted:4"], "no adapted model 4"),
    ],
)
def test_bad_input_is_refused_before_any_work(db_path, store, extra, message):
    vid = paraphrase_version(store, 4)
    result = CliRunner().invoke(cli, ["adapt", str(vid), "--db", str(db_path), *extra])
    assert message in clean_exit(result, 1)
    assert not store.db.execute("SELECT count(*) FROM adapted_models").fetchone()[0]


def test_a_version_without_documents_or_queries_is_refused(db_path, store):
    empty = store.create_version("empty", kind="run", config={}, target_docs=0)
    store.finish(empty, "complete", 0.0)
    result = CliRunner().invoke(cli, ["adapt", str(empty), "--db", str(db_path)])
    assert "has no documents" in clean_exit(result, 1)
    silent = make_version(store, None, 4)  # every query came out empty
    with pytest.raises(ZestError, match="no usable synthetic query"):
        adapt.adapt(store, silent)
    with pytest.raises(ZestError, match="no adapted model 3"):
        adapt.model_folder("adapted:3", store)
    with pytest.raises(ZestError, match="expected adapted:ID"):
        load_encoder("dense", adapted="x", store=store)


@pytest.mark.slow
def test_sigkill_mid_training_then_the_same_command_restarts_cleanly(db_path, store, tiny):
    vid = paraphrase_version(store)
    models = db_path.parent / "models"
    args = ["adapt", str(vid), "--model", tiny, "--db", str(db_path)]
    args += ["--epochs", "30", "--batch-size", "4"]
    command = [sys.executable, "-c", "from zest_core.entry import main; main()", *args]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while not list(models.glob(".partial-*")):  # training has begun
        assert proc.poll() is None, proc.stdout.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    # the kernel ends the working child of the supervising process too (PR_SET_PDEATHSIG)
    while adapt.models(store)[0]["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    (row,) = adapt.models(store)
    assert row["status"] == "failed" and row["path"] is None  # nothing marked complete
    with pytest.raises(ZestError, match="not complete"):
        adapt.model_folder(f"adapted:{row['id']}", store)
    # the same command again: same inputs, so the same key; the stale row is taken over
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    (row,) = adapt.models(store)
    assert row["status"] == "complete" and row["id"] == 1
    assert not list(models.glob(".partial-*")) and len(list(models.iterdir())) == 1
    path, _ = adapt.model_folder("adapted:1", store)
    assert adapt.fingerprint(path) == row["fingerprint"]
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert "reused" in again.stdout


@pytest.mark.slow
def test_the_real_minilm_adapts_and_loads(store, capfd):
    vid = paraphrase_version(store)
    row = adapt.adapt(store, vid, epochs=1, batch_size=8, max_seq_length=64)
    # the trainer's model-card progress bar stays out of zest's output
    assert "Computing widget examples" not in capfd.readouterr().err
    card = (Path(row["path"]) / "README.md").read_text()
    assert "source_sentence:" in card  # the widget zest gave, in place of the sampled one
    assert row["status"] == "complete" and row["base_model"] == "all-MiniLM-L6-v2"
    encoder = load_encoder("dense", store=store, adapted=row["id"])
    vectors = encoder.encode_queries(["glaciers melting"]).dense
    assert vectors.shape == (1, 384) and np.isclose(np.linalg.norm(vectors), 1, atol=1e-5)
    assert own_rank_mrr(encoder, store, vid) > 0.5
    shutil.rmtree(row["path"])
    with pytest.raises(ZestError, match="missing or incomplete"):
        adapt.model_folder(row["id"], store)
