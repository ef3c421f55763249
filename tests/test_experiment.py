"""``zest experiment experiments/smoke.toml`` end to end: the fake generator, the real
hybrid encoder, real SQLite, real mteb scoring on small SciFact and NFCorpus slices."""

import csv
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from contextlib import closing

import pytest
from click.testing import CliRunner
from conftest import ROOT, beir, fake_cli

from zest_core.cli import cli
from zest_core.contexts.scoring import query_scores
from zest_core.corpus.store import Store
from zest_core.experiment import report_records
from zest_core.experiment.planning import balanced_subset

SMOKE = ROOT / "experiments" / "smoke.toml"
PLOTS = ("ndcg_vs_docs.png", "ndcg_vs_k.png", "contexts.png")


def beir_slice(source, root, n_queries=8, n_others=30, seed=0):
    """``n_queries`` test queries with at most 4 relevant documents each, those documents
    and ``n_others`` random others."""
    rows = [
        line.split("\t") for line in (source / "qrels" / "test.tsv").read_text().splitlines()[1:]
    ]
    judged: dict[str, list] = {}
    for row in rows:
        judged.setdefault(row[0], []).append(row)
    picked = [q for q in sorted(judged) if len(judged[q]) <= 4][:n_queries]
    qrels = [row for q in picked for row in judged[q]]
    relevant = {row[1] for row in qrels}
    corpus = [json.loads(line) for line in (source / "corpus.jsonl").open()]
    others = random.Random(seed).sample([d for d in corpus if d["_id"] not in relevant], n_others)
    keep = relevant | {d["_id"] for d in others}
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_text(
        "".join(json.dumps(d) + "\n" for d in corpus if d["_id"] in keep)
    )
    (root / "queries.jsonl").write_text(
        "".join(
            line + "\n"
            for line in (source / "queries.jsonl").read_text().splitlines()
            if json.loads(line)["_id"] in picked
        )
    )
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join("\t".join(r) + "\n" for r in qrels)
    )


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """experiments/smoke.toml copied beside the two slices it names."""
    root = tmp_path_factory.mktemp("smoke")
    for name in ("scifact", "nfcorpus"):
        beir_slice(beir(name), root / "data" / f"{name}-slice")
    shutil.copy(SMOKE, root / "smoke.toml")
    return root / "smoke.toml"


@pytest.fixture(scope="module")
def first_run(smoke, tmp_path_factory):
    db = tmp_path_factory.mktemp("db") / "zest.db"
    result = CliRunner().invoke(cli, ["experiment", str(smoke), "--db", str(db)])
    assert result.exit_code == 0, result.output
    return db, result.output


def read_csv(path, drop=("version", "result_id", "generation")):
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k not in drop} for row in csv.DictReader(f)]


def test_smoke_writes_the_report(smoke, first_run):
    db, output = first_run
    report = smoke.parent / "reports" / "smoke"
    for name in ("report.md", "results.csv", *PLOTS):
        assert (report / name).stat().st_size > 0, name
    assert all((report / p).read_bytes().startswith(b"\x89PNG") for p in PLOTS)
    rows = read_csv(report / "results.csv")
    # per dataset: 3 baselines + 9 arms x 2 seeds
    assert len(rows) == 2 * (3 + 9 * 2) and "42 results (" in output
    # not a terminal: a progress line per step instead of bars
    assert re.search(r"\d\d:\d\d:\d\d scifact-slice: k=1, seed 1 \(\d+/\d+ documents", output)
    arms = {row["arm"] for row in rows}
    assert arms == {
        "none",
        "generic",
        "real:20",
        "synthetic",
        "other-domain",
        "reference",
        "docs=2",
        "docs=4",
        "k=1",
        "k=3",
        "strategy=direct",
        "selection=diverse",
    }
    text = (report / "report.md").read_text()
    assert "## scifact-slice — encoder hybrid[max_seq_length=128] (8 queries)" in text
    assert "| synthetic vs full access (real:20) | within 0.5% of full access" in text
    assert "| k=10 minus k=5" not in text  # k = 10 was not in the grid
    assert "| reference (hierarchical) minus strategy=direct |" in text
    assert "Each ablation against the reference context (J' = 4)" in text
    ablation_rows = [line.split(" |")[0] for line in text.splitlines() if line.startswith("| k=")]
    assert {"| k=1", "| k=3"} <= set(ablation_rows)
    assert "Smoke test: fake generator" in text
    store = Store(db)
    # 2 datasets x 2 seeds x (base, k=1, k=3, direct, diverse); other-domain and J' reuse them
    runs = store.db.execute("SELECT count(*) FROM versions WHERE kind = 'run'").fetchone()[0]
    subsets = store.db.execute(
        "SELECT count(*), min(parent_id IS NOT NULL) FROM versions WHERE kind = 'subset'"
    ).fetchone()
    # J' 2 and 4 of each base run; the reference (J' 4, k 2) is the same subset as docs=4
    assert runs == 20 and subsets == (8, 1)
    assert {r["status"] for r in store.versions()} == {"complete"}


def test_the_report_pairs_by_seed_and_is_recomputed_from_its_scores(smoke, first_run, tmp_path):
    """Issue #36 on a real run: every seeded record names its seed's base generation (the
    dataset's synthetic run of that seed), so ablations are seed-paired and baselines not;
    scores.csv.gz holds the store's per-query scores; ``zest results report`` writes the same
    report again from the directory alone."""
    db, _ = first_run
    report = shutil.copytree(smoke.parent / "reports" / "smoke", tmp_path / "smoke")
    rows = read_csv(report / "results.csv", drop=())
    base = {(r["dataset"], r["seed"]): r["version"] for r in rows if r["arm"] == "synthetic"}
    assert len(set(base.values())) == 4  # 2 datasets x 2 seeds
    for row in rows:
        assert row["generation"] == (base[row["dataset"], row["seed"]] if row["seed"] else "")
    store = Store(db)
    for record in report_records.load(report):
        assert record["per_query"] == query_scores(store, record["result_id"])
    text = (report / "report.md").read_text()
    lines = text.splitlines()
    assert "‡" in next(line for line in lines if line.startswith("| k=1 |") and "p=" in line)
    assert "‡" not in next(line for line in lines if line.startswith("| none |") and "p=" in line)
    assert "Intervals: ‡ paired by query and seed" in text
    result = CliRunner().invoke(cli, ["results", "report", str(report)])
    assert result.exit_code == 0, result.output
    again = (report / "report.md").read_text().splitlines()
    assert [line for line in again if not line.startswith("- recomputed ")] == lines


def test_a_second_run_reuses_everything(smoke, first_run, monkeypatch):
    from fake_plugin import FakeGenerator
    from test_evaluate import counting

    from zest_encoders import DenseEncoder, HybridEncoder

    db, _ = first_run
    calls = {
        name: counting(monkeypatch, cls, name.split(".")[1])
        for name, cls in (
            ("generate.complete", FakeGenerator),
            ("dense.embed_documents", DenseEncoder),
            ("dense.embed_queries", DenseEncoder),
            ("hybrid.derive", HybridEncoder),
        )
    }
    started = time.monotonic()
    result = CliRunner().invoke(cli, ["experiment", str(smoke), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert {name: len(c) for name, c in calls.items()} == dict.fromkeys(calls, 0)
    assert "42 results (42 reused), 0 documents generated" in result.output
    assert time.monotonic() - started < 60


def test_part_of_the_grid_runs_alone_and_shares_the_store(smoke, first_run, tmp_path):
    """--dataset/--context run part of a grid (a long one in parts): only that part is
    scored, other-domain exemplars still come from the dataset not run, and everything is
    the whole grid's, reused."""
    db, _ = first_run
    report = tmp_path / "part"
    args = ["experiment", str(smoke), "--db", str(db), "--report", str(report)]
    part = ["--dataset", "nfcorpus-slice", "--context", "none", "--context", "other-domain"]
    result = CliRunner().invoke(cli, args + part)
    assert result.exit_code == 0, result.output
    rows = read_csv(report / "results.csv")
    assert {r["dataset"] for r in rows} == {"nfcorpus-slice"}
    # the one baseline asked for, and the arms (the base and ablations always run) x 2 seeds
    arms = {r["arm"] for r in rows}
    assert "none" in arms and "other-domain" in arms and not arms & {"generic", "real:20"}
    assert len(rows) == 1 + 9 * 2 and "19 results (19 reused), 0 documents" in result.output
    whole = read_csv(smoke.parent / "reports" / "smoke" / "results.csv")
    assert all(r in whole for r in rows)  # the same numbers as the whole grid's
    text = (report / "report.md").read_text()
    assert "--dataset nfcorpus-slice --context none --context other-domain`" in text
    assert "part of the grid" in text
    for bad, message in (
        (["--dataset", "trec"], "no dataset 'trec' (the file has scifact-slice, nfcorpus-slice)"),
        (["--context", "real:512"], "no context 'real:512' in [experiment] contexts"),
    ):
        refused = CliRunner().invoke(cli, args + bad)
        assert refused.exit_code == 1 and refused.output.count("Error:") == 1, refused.output
        assert message in refused.output


def test_a_killed_run_resumes_to_the_same_results(smoke, first_run, tmp_path):
    """SIGKILL while a corpus is half-written, then the same command again."""
    slow = tmp_path / "smoke.toml"
    shutil.copytree(smoke.parent / "data", tmp_path / "data")
    slow.write_text(
        smoke.read_text().replace(
            'generator = "fake"', 'generator = "fake"\noptions = { delay = 0.05 }'
        )
    )
    db = tmp_path / "zest.db"
    Store(db)  # schema and WAL mode first, so that watching it never blocks the child
    process = subprocess.Popen(
        fake_cli("experiment", slow, "--db", db), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if _half_written(db):
                break
            time.sleep(0.05)
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    killed = Store(db).db.execute_returning_dicts(  # running, or failed once its writer is gone
        "SELECT id FROM versions WHERE status != 'complete'"
    )
    assert len(killed) == 1
    again = subprocess.run(
        fake_cli("experiment", slow, "--db", db), capture_output=True, text=True, timeout=600
    )
    assert again.returncode == 0, again.stderr[-2000:]
    store = Store(db)
    assert store.version(killed[0]["id"])["status"] == "complete"  # resumed, not redone
    assert store.db.execute("SELECT count(*) FROM versions WHERE kind = 'run'").fetchone()[0] == 20
    original = smoke.parent / "reports" / "smoke" / "results.csv"
    # the slow copy's generator options (delay) are in the config column by design
    drop = ("version", "result_id", "generation", "config")
    assert read_csv(tmp_path / "reports" / "smoke" / "results.csv", drop) == read_csv(
        original, drop
    )


def test_a_segfault_or_sigterm_says_to_run_the_same_command_again(smoke, tmp_path):
    """The advice for an experiment is the experiment, not ``zest run --resume``: a native
    crash (the fake generator's real SIGSEGV) and a SIGTERM both say so."""
    db = tmp_path / "zest.db"
    crashed = subprocess.run(
        fake_cli("experiment", smoke, "--db", db),
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "ZEST_FAKE_SEGFAULT_AFTER": "document:3"},
    )
    assert crashed.returncode == 128 + signal.SIGSEGV, crashed.stderr[-2000:]
    errors = [line for line in crashed.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "SIGSEGV" in errors[0], crashed.stderr[-2000:]
    assert f"Continue with the same command: zest experiment {smoke} --db {db}" in errors[0]
    assert [v["status"] for v in Store(db).versions() if v["status"] != "complete"] == ["failed"]

    slow = tmp_path / "slow.toml"
    shutil.copytree(smoke.parent / "data", tmp_path / "data")
    slow.write_text(
        smoke.read_text().replace(
            'generator = "fake"', 'generator = "fake"\noptions = { delay = 0.05 }'
        )
    )
    process = subprocess.Popen(
        fake_cli("experiment", slow, "--db", db), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if _documents(db) >= 12:
                break
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    last = stderr.decode().strip().splitlines()[-1]
    assert process.returncode == 143, stderr.decode()[-2000:]
    assert f"Continue with the same command: zest experiment {slow} --db {db}" in last, last


def _documents(db) -> int:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        return conn.execute("SELECT count(*) FROM documents").fetchone()[0]


def _half_written(db) -> bool:
    """A run version with documents but not all of them, after some others completed."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        complete = conn.execute(
            "SELECT count(*) FROM versions WHERE status = 'complete'"
        ).fetchone()[0]
        partial = conn.execute(
            """SELECT count(*) FROM versions v WHERE v.status = 'running' AND
               (SELECT count(*) FROM documents d WHERE d.version_id = v.id) >= 2"""
        ).fetchone()[0]
    return complete >= 3 and partial == 1


CONCURRENT = """
[experiment]
name = "concurrent"
seeds = [0, 1]
contexts = ["synthetic"]
[[dataset]]
name = "scifact-slice"
path = "data/scifact-slice"
pool = 20
[encoder]
name = "hybrid"
options = { max_seq_length = 128 }
[generation]
generator = "fake"
options = { delay = 0.5 }
k = 2
anchors = 2
docs = 8
[ablations]
docs = [4]
"""


def test_two_experiments_at_once_share_their_runs(smoke, tmp_path):
    """Two ``zest experiment`` processes on one store at once: whichever finds a run being
    written by the other waits for it and reuses it (the second one said "version 1 is
    being written by pid ..." and exited 1). Both finish; each run and subset is made once."""
    from fake_plugin import kind_of, recorded

    grid = smoke.parent / "concurrent.toml"
    grid.write_text(CONCURRENT)
    db, requests = tmp_path / "zest.db", tmp_path / "requests.jsonl"
    Store(db)  # the schema first: the two race for the runs, not the migrations
    env = {**os.environ, "ZEST_FAKE_RECORD": str(requests)}
    procs = [
        subprocess.Popen(
            fake_cli("experiment", grid, "--db", db, "--report", tmp_path / f"report{i}"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for i in range(2)
    ]
    done = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    assert [rc for rc, _, _ in done] == [0, 0], [err[-2000:] for _, _, err in done]
    assert any("waiting for version" in err for _, _, err in done), done
    store = Store(db)
    kinds = store.db.execute("SELECT kind, count(*) FROM versions GROUP BY kind").fetchall()
    assert sorted(kinds) == [("run", 2), ("subset", 2)]
    assert {v["status"] for v in store.versions()} == {"complete"}
    documents = [r for r in recorded(requests) if kind_of(r) == "document"]
    assert len(documents) == 2 * 8  # every planned document of both seeds asked for once
    assert read_csv(tmp_path / "report0" / "results.csv") == read_csv(
        tmp_path / "report1" / "results.csv"
    )
    # one stored result per key, not one per process (6 rows for 3 keys before)
    rows, keys = store.db.execute(
        "SELECT count(*), count(DISTINCT json_extract(settings, '$.key')) FROM eval_results"
    ).fetchone()
    assert rows == keys > 0


def test_balanced_subset_covers_every_anchor():
    docs = [{"id": i, "ordinal": i, "anchor_id": i * 4 // 12} for i in range(12)]  # 4 anchors
    subset = balanced_subset(docs, 6)
    assert [d["ordinal"] for d in subset] == [0, 1, 3, 4, 6, 9]
    assert {d["anchor_id"] for d in subset} == {0, 1, 2, 3}
    direct = [{"id": i, "ordinal": i, "anchor_id": None} for i in range(5)]
    assert [d["ordinal"] for d in balanced_subset(direct, 3)] == [0, 1, 2]


TUNED = """
[experiment]
name = "tuned"
seeds = [0]
contexts = ["none", "synthetic"]
[[dataset]]
name = "scifact-slice"
path = "data/scifact-slice"
pool = 20
[[encoder]]
name = "hybrid"
options = { max_seq_length = 128 }
[[encoder]]
name = "hybrid"
options = { max_seq_length = 128 }
tuned = true
tune_docs = 16
[generation]
generator = "fake"
k = 2
anchors = 2
docs = 24
"""


def test_a_tuned_encoder_is_tuned_on_a_subset_and_scored_with_its_choice(
    smoke, tmp_path, monkeypatch
):
    """``tuned = true``: queries written and settings tuned on the balanced J'=tune_docs
    subset of each synthetic version, the version scored with them; baselines keep the
    untuned settings (and so reuse the untuned encoder's results); a rerun redoes nothing."""
    from fake_plugin import FakeGenerator
    from test_evaluate import counting

    grid = smoke.parent / "tuned.toml"
    grid.write_text(TUNED)
    db = tmp_path / "zest.db"
    args = ["experiment", str(grid), "--db", str(db), "--report", str(tmp_path / "r")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    store = Store(db)
    run = store.db.execute("SELECT id FROM versions WHERE kind = 'run'").fetchone()[0]
    tuning = store.db.execute_returning_dicts("SELECT * FROM tunings")
    assert len(tuning) == 1
    tuned_on = store.version(tuning[0]["version_id"])
    assert tuned_on["kind"] == "subset" and tuned_on["parent_id"] == run
    assert len(store.documents(tuned_on["id"])) == tuning[0]["queries"] == 16
    chosen = json.loads(tuning[0]["settings"])
    rows = read_csv(tmp_path / "r" / "results.csv", drop=())
    by = {(r["encoder"], r["arm"]): r for r in rows}
    plain, tuned = "hybrid[max_seq_length=128]", "hybrid[max_seq_length=128] tuned on 16 docs"
    assert by[(plain, "none")]["result_id"] == by[(tuned, "none")]["result_id"]
    synthetic = store.db.execute(
        "SELECT settings FROM eval_results WHERE id = ?", [by[(tuned, "synthetic")]["result_id"]]
    ).fetchone()[0]
    assert {k: json.loads(synthetic)[k] for k in chosen} == chosen
    assert by[(plain, "synthetic")]["result_id"] != by[(tuned, "synthetic")]["result_id"]
    assert f"tuned on version {tuned_on['id']} (16 queries written)" in result.output
    text = (tmp_path / "r" / "report.md").read_text()
    heading = f"## scifact-slice — encoders and contexts against synthetic under {plain}"
    base = 100 * float(by[(plain, "synthetic")]["ndcg_at_10"])
    assert heading in text and f"| synthetic | {base:.2f} (base) |" in text

    calls = counting(monkeypatch, FakeGenerator, "complete")
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert calls == [] and store.db.execute("SELECT count(*) FROM tunings").fetchone()[0] == 1
    assert "4 results (4 reused)" in again.output


BAD = [
    ("[experiment\nname = 1", "not valid TOML"),
    (
        "[experiment]\nname = 'x'\n[[dataset]]\npath = 'data/scifact-slice'\n[ablations]\n"
        "temperature = [1]",
        "unknown axis 'temperature' in [ablations]",
    ),
    (
        "[[dataset]]\npath = 'data/scifact-slice'\n[ablations]\nstrategy = ['nope']",
        "unknown anchor strategy 'nope'",
    ),
    (
        "[[dataset]]\npath = 'data/scifact-slice'\n[generation]\nselection = 'best'",
        "unknown selection 'best'",
    ),
    ("[[dataset]]\npath = 'data/nowhere'", "does not exist"),
    (
        "[experiment]\ncontexts = ['none', 'mystery']\n[[dataset]]\npath = 'data/scifact-slice'",
        "unknown context 'mystery'",
    ),
    (
        "[experiment]\ncontexts = ['none', '{running}']\n[[dataset]]\npath = 'data/scifact-slice'",
        "is running, not complete",
    ),
    (
        "[[dataset]]\npath = 'data/scifact-slice'\nother_domain = 'elsewhere'",
        "other_domain 'elsewhere' is not a dataset",
    ),
    (
        "[[dataset]]\npath = 'data/scifact-slice'\n[encoder]\ntuned = true\ntune_docs = 4",
        "tune_docs needs tuned = true and an integer >= 16",
    ),
]


@pytest.mark.parametrize("text, message", BAD)
def test_bad_grid_gives_one_error_line(smoke, tmp_path, text, message):
    db = tmp_path / "zest.db"
    store = Store(db)
    running = store.create_version("x", kind="run", config={})
    grid = smoke.parent / "bad.toml"
    grid.write_text(text.replace("{running}", str(running)))
    result = CliRunner().invoke(
        cli, ["experiment", str(grid), "--db", str(db), "--report", str(tmp_path / "report")]
    )
    assert result.exit_code == 1, result.output
    assert result.output.count("Error:") == 1 and message in result.output
    assert not (tmp_path / "report").exists()


# smoke.toml names the slices its own test writes beside it: tested above, not here
SHIPPED = sorted(p for p in (ROOT / "experiments").glob("*.toml") if p.name != "smoke.toml")


@pytest.mark.parametrize("grid", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_grid_loads(grid):
    """The grids the docs tell users to run parse and pass every check (datasets, options,
    arms) without running anything: a typo in one would otherwise surface hours into a run."""
    from zest_core.experiment.grid import load

    beir("scifact"), beir("nfcorpus")  # the shared data they name, or a clear failure
    loaded = load(grid)
    assert loaded.datasets and loaded.encoders and loaded.seeds
