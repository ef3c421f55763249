"""``zest browse``: a real store made by real ``zest run`` and ``zest filter`` processes (the
fake generator), served by a real ``zest browse`` process, read in headless Chromium through
selenium; and a browse beside a running writer. The full-text index it searches is the
store's own (migration ``m_documents_full_text``), tested here on an old file too.

The browser tests need Debian's ``chromium`` and ``chromium-driver`` (``.ci/browser-deps``)
and selenium (the test extra): without them they skip with the reason, except under CI
(``$CI`` set), where a skip would hide that the pages were never opened, so they fail.
Screenshots go to ``$ZEST_BROWSE_SCREENSHOTS`` when set (docs/browse.md's come from there),
else to the test's own folder."""

import hashlib
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import sqlite_utils
from conftest import SCIFACT_EXEMPLARS, TESTS, fake_cli

from zest_core.commands.browse_queries import QUERIES
from zest_core.corpus.migrations import MIGRATIONS
from zest_core.corpus.store import Store
from zest_core.deps import install_hint

pytest.importorskip("datasette", reason="zest browse needs the browse extra (datasette)")

RUN = ["run", "--exemplars", SCIFACT_EXEMPLARS, "--generator", "fake", "--seed", 3]
WORD = "mitochondria"  # one of the fake generator's words: in some documents, not all


def sql(db: Path, query: str, *args) -> list:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return conn.execute(query, args).fetchall()


def files_digest(db: Path) -> str:
    """The store's bytes: the file and its WAL (read-only browsing changes neither)."""
    digest = hashlib.sha256()
    for path in (db, Path(f"{db}-wal")):
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()


def zest(*args, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(fake_cli(*args), capture_output=True, text=True, timeout=300, **kwargs)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


class Browse:
    """A real ``zest browse`` process on a free port, under the network guard (any
    connection it tries beyond loopback is refused and recorded)."""

    def __init__(self, db: Path, guard_record: Path):
        self.record = guard_record
        command = [sys.executable, str(TESTS / "network_guard.py"), str(guard_record)]
        self.proc = subprocess.Popen(
            [*command, "browse", "--db", str(db), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        found = re.search(r"at (http://127\.0\.0\.1:\d+)/", line)
        assert found, line + self.proc.stderr.read()
        self.url = found.group(1)

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.url + path, timeout=30) as answer:
            return answer.read().decode()

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        finally:
            self.proc.kill()
            self.proc.stdout.close()
            self.proc.stderr.close()
        assert json.loads(self.record.read_text()) == [], "zest browse reached beyond loopback"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A store made by real processes: a run (version 1) and a near-dedup filter of it
    (version 2) that drops some documents and keeps others."""
    db = tmp_path_factory.mktemp("browse") / "zest.db"
    zest(*RUN, "--anchors", 3, "--docs", 12, "--db", db)
    filt = ["filter", "1", "--with", "near-dedup", "-o", "threshold=0.6", "-o", "shingle=1"]
    zest(*filt, "--db", db)
    kept = sql(db, "SELECT count(*) FROM documents WHERE version_id = 2")[0][0]
    dropped = sql(db, "SELECT count(*) FROM drops WHERE version_id = 2")[0][0]
    assert 0 < dropped < 12 and kept + dropped == 12  # a filter with something to show
    return db


def browser():
    """Headless Chromium through selenium, or a skip (a failure under CI) naming what is
    missing."""
    missing = [tool for tool in ("chromium", "chromedriver") if not shutil.which(tool)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install -e '.[test]')")
    if missing:
        reason = f"the browser test needs {', '.join(missing)}: run .ci/browser-deps"
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI is set, so this is a failure, not a skip)")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1200,900",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-sync",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def requested(driver) -> list[str]:
    """Every URL the pages asked for since the last call (Chrome's performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


@pytest.fixture
def screenshots(tmp_path) -> Path:
    folder = Path(os.environ.get("ZEST_BROWSE_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.slow
def test_the_pages_of_a_real_store_in_headless_chromium(corpus, tmp_path, screenshots):
    from selenium.webdriver.common.by import By

    driver = browser()
    before = files_digest(corpus)
    server = Browse(corpus, tmp_path / "guard.json")
    shots = []

    def shot(name: str) -> None:
        path = screenshots / f"{name}.png"
        driver.save_screenshot(str(path))
        shots.append(path)

    def text() -> str:
        return driver.find_element(By.TAG_NAME, "body").text

    try:
        driver.get(server.url + "/")
        assert "zest corpora" in driver.title
        assert "_zest_migrations" not in text() and "documents" in text()  # internal: hidden
        shot("index")

        # the lineage query; its version ids link to zest's version pages
        driver.get(server.url + "/zest/lineage")
        rows = driver.find_elements(By.CSS_SELECTOR, "table.rows-and-columns tbody tr")
        assert len(rows) == 2
        shot("lineage")
        driver.find_element(By.LINK_TEXT, "1").click()
        assert driver.current_url.endswith("/-/zest/version/1")
        assert "Version 1 of scifact: run, complete" in text()
        shot("version")
        # down to the child, and back up through its parent link
        driver.find_element(By.PARTIAL_LINK_TEXT, "version 2").click()
        assert "Version 2 of scifact: filter, complete" in text()
        dropped = sql(corpus, "SELECT count(*) FROM drops WHERE version_id = 2")[0][0]
        assert f"near-duplicate: {dropped}" in text()
        driver.find_element(By.LINK_TEXT, "what the filter dropped, and why").click()
        drop_rows = driver.find_elements(By.CSS_SELECTOR, "table.rows-and-columns tbody tr")
        assert len(drop_rows) == dropped and "near-duplicate" in text()
        shot("drops")
        driver.back()
        driver.find_element(By.PARTIAL_LINK_TEXT, "version 1").click()
        assert driver.current_url.endswith("/-/zest/version/1")

        # a document of version 1, from the version's list
        first = sql(
            corpus,
            """SELECT d.id, a.text, d.text FROM documents d JOIN anchors a ON a.id = d.anchor_id
               WHERE d.version_id = 1 ORDER BY d.ordinal LIMIT 1""",
        )[0]
        driver.find_element(By.LINK_TEXT, first[1]).click()
        assert driver.current_url.endswith(f"/-/zest/document/{first[0]}")
        assert driver.find_element(By.TAG_NAME, "h1").text == first[1]
        paragraphs = driver.find_elements(By.CSS_SELECTOR, "article p")
        assert " ".join(p.text for p in paragraphs) == " ".join(first[2].split())
        assert "Generation settings" in text() and "fake" in text()
        shot("document")

        # full-text search from the documents table's own search box
        driver.get(server.url + "/zest/documents")
        box = driver.find_element(By.ID, "_search")
        box.send_keys(WORD)
        box.submit()
        expected = sum(
            WORD in re.findall(r"\w+", row[0].lower())
            for row in sql(corpus, "SELECT text FROM documents")
        )
        assert 0 < expected < sql(corpus, "SELECT count(*) FROM documents")[0][0]
        assert f'{expected} row{"s" if expected != 1 else ""} where search matches "{WORD}"' in (
            text()
        )
        shot("search")

        # a canned query with a parameter, through its form
        driver.get(server.url + "/zest/anchors")
        field = driver.find_element(By.ID, "qp1")
        field.clear()
        field.send_keys("1")
        field.submit()
        counts = sql(
            corpus,
            """SELECT a.text, (SELECT count(*) FROM documents d WHERE d.anchor_id = a.id)
               FROM anchors a WHERE a.version_id = 1 ORDER BY a.ordinal""",
        )
        rows = driver.find_elements(By.CSS_SELECTOR, "table.rows-and-columns tbody tr")
        assert [r.find_elements(By.TAG_NAME, "td")[2].text for r in rows] == [c[0] for c in counts]
        assert [int(r.find_elements(By.TAG_NAME, "td")[4].text) for r in rows] == [
            c[1] for c in counts
        ]
        shot("anchors")

        urls = requested(driver)
    finally:
        driver.quit()
        server.close()
    # the pages fetched their stylesheet and scripts, all from the zest browse server
    assert any(u.endswith(".css") for u in urls), urls
    outside = [u for u in urls if not u.startswith(server.url + "/") and not u.startswith("data:")]
    assert not outside, outside
    assert files_digest(corpus) == before  # read-only
    assert all(p.stat().st_size > 10_000 for p in shots)  # rendered, not blank


@pytest.mark.slow
def test_browse_beside_a_running_writer(tmp_path):
    """Pages read while ``zest run`` writes show its new documents on reload, and the
    writer, with a reader hammering the store, completes with every document."""
    db = tmp_path / "zest.db"
    Store(db).db.conn.close()  # an empty store, browsed from before the run starts
    server = Browse(db, tmp_path / "guard.json")
    docs = 30
    writer = subprocess.Popen(
        fake_cli(*RUN, "--anchors", 2, "--docs", docs, "-o", "delay=0.2", "--db", db),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen, errors, done = [], [], threading.Event()

    def hammer():  # a second reader, as fast as it can: it must not slow the writer down
        while not done.is_set():
            try:
                server.get("/zest/documents?_search=" + WORD)
            except OSError as e:
                errors.append(e)

    reader = threading.Thread(target=hammer)
    reader.start()
    try:
        while writer.poll() is None:
            try:
                seen.append(shown(server.get("/-/zest/version/1")))
            except urllib.error.HTTPError as e:  # before the run has made its version
                assert e.code == 404
            time.sleep(0.3)
        out, err = writer.communicate(timeout=60)
        final = shown(server.get("/-/zest/version/1"))
    finally:
        done.set()
        reader.join()
        server.close()
    assert writer.returncode == 0, out + err
    assert "locked" not in err
    assert not errors
    assert sql(db, "SELECT status FROM versions WHERE id = 1") == [("complete",)]
    assert sql(db, "SELECT count(*) FROM documents WHERE version_id = 1") == [(docs,)]
    assert final == docs
    assert seen == sorted(seen) and len(set(seen)) >= 3, seen  # new documents on each reload
    assert seen[0] < docs


def shown(page: str) -> int:
    """The number of documents a version's page shows."""
    return int(re.search(r"<dd>(\d+) \(target", page).group(1))


def test_an_old_store_gains_the_full_text_index_and_the_store_keeps_it_current(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    old["_zest_migrations"].create({"name": str, "applied": str}, pk="name")
    previous = [fn for fn in MIGRATIONS if fn.__name__ != "m_documents_full_text"]
    assert len(previous) == len(MIGRATIONS) - 1
    for fn in previous:
        fn(old)
        old["_zest_migrations"].insert({"name": fn.__name__, "applied": "then"})
    old["corpora"].insert({"id": 1, "name": "c", "created": "then"})
    old["versions"].insert(
        {
            "id": 1,
            "corpus_id": 1,
            "kind": "run",
            "status": "running",
            "created": "then",
            "target_docs": 2,
        }
    )
    old["documents"].insert({"version_id": 1, "ordinal": 0, "text": "Mitochondria divided."})
    old.conn.close()

    def search(store, words):
        return [row["id"] for row in store.db["documents"].search(words, columns=["id"])]

    store = Store(path)
    assert search(store, "dividing") == [1]  # stemmed: the old row is indexed
    store.add_document(1, 1, "Neurons fire.")
    assert search(store, "neuron") == [2]
    store.finish(1, "complete", 0.0)
    child = store.create_version("c", kind="filter", config={}, parent_id=1)
    store.copy_into(1, child, keep=[2])
    assert search(store, "neurons") == [2, 3]
    store.delete_versions([child])
    assert search(store, "neurons") == [2]
    assert store.db.execute("INSERT INTO documents_fts(documents_fts) VALUES('integrity-check')")


@pytest.mark.slow  # the module's store is made by real processes
def test_the_canned_queries_run_on_a_real_store(corpus):
    """Each canned query is valid SQL over the store's schema and finds rows in it."""
    params = {"version": 2, "anchor": 1, "a": 1, "b": 2}
    with sqlite3.connect(f"file:{corpus}?mode=ro", uri=True) as conn:
        for name, query in QUERIES.items():
            rows = conn.execute(query["sql"], params).fetchall()
            assert rows, name


@pytest.mark.slow  # the module's store is made by real processes
def test_browse_refuses_without_datasette_or_a_store_or_a_free_port(corpus, tmp_path, monkeypatch):
    from click.testing import CliRunner
    from conftest import clean_exit

    from zest_core.cli import cli

    with monkeypatch.context() as without:
        without.setitem(sys.modules, "datasette", None)  # as if the extra were not installed
        result = CliRunner().invoke(cli, ["browse", "--db", str(corpus)])
    assert install_hint("browse") in clean_exit(result, 1)
    missing = CliRunner().invoke(cli, ["browse", "--db", str(tmp_path / "nope.db")])
    assert "no zest database at" in clean_exit(missing, 1)
    assert not (tmp_path / "nope.db").exists()  # read-only: never made
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        result = CliRunner().invoke(cli, ["browse", "--db", str(corpus), "--port", port])
    assert f"cannot serve on 127.0.0.1:{port}" in clean_exit(result, 1)


def test_without_a_browser_the_test_skips_and_under_ci_fails(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no chromium, no chromedriver
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="needs chromium, chromedriver"):
        browser()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        browser()
