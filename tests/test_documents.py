"""Your own documents (issue 34, and issue 32's unbounded and badly typed exemplar files):
PDF, DOCX, HTML and Markdown written in the tests with real libraries, read by the real
readers, through real ``zest`` commands (``run --exemplars`` with the fake generator,
``exemplars pick``, ``embed``, ``index``, ``search``) and the Python API."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import fake_cli
from make_documents import column, write_docx, write_html, write_markdown, write_pdf

import zest_core as zest
from zest_core.cli import cli
from zest_core.corpus.exemplars import read_exemplars
from zest_core.documents import Document, DocumentReader, split_passages
from zest_core.errors import ZestError

LETTER = [
    "Dear colleague, thank you for referring Mrs Jones with persistent knee pain.",
    "Examination showed an effusion of the left knee and reduced flexion.",
    "We started physiotherapy and naproxen for six weeks.",
]
REPORT = [
    ("Summary", ["The audit covered 212 discharge letters from the cardiology ward.",
                 "Most letters named the follow-up clinic; few named the anticoagulant dose."]),
    ("Findings", ["Warfarin doses were missing in 31 letters.",
                  "Apixaban was stopped without a reason in 4 letters."]),
]  # fmt: skip
TABLE = [["Drug", "Letters"], ["Warfarin", "31"], ["Apixaban", "4"]]
LEAFLET = [
    "Rest the knee and use ice packs for twenty minutes, three times a day, for two days.",
    "Take paracetamol (< 4 g a day) or ibuprofen [see the label]; ask your pharmacist.",
    "See your doctor if the knee is hot, red, or you cannot put weight on it after a week.",
]


def make_folder(root: Path) -> Path:
    """A folder of one PDF (three pages, a word only on page 2), a DOCX with a table, an
    HTML page, a Markdown file and a text file, one in a subfolder."""
    root.mkdir(parents=True, exist_ok=True)
    write_pdf(
        root / "letter.pdf",
        [column(LETTER), column(["Page two names the rheumatology review in March."]),
         column(["Page three: the patient consented to the plan."])],
        title="Referral letter",
    )  # fmt: skip
    write_docx(root / "audit.docx", "Discharge letter audit", REPORT, table=TABLE)
    write_html(root / "leaflet.html", "Knee pain", LEAFLET)
    (root / "notes").mkdir(exist_ok=True)
    write_markdown(root / "notes" / "handover.md", "Handover", REPORT)
    (root / "plain.txt").write_text("A plain note about insulin pens.\n", encoding="utf-8")
    return root


@pytest.fixture
def folder(tmp_path):
    return make_folder(tmp_path / "docs")


def error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, output
    return lines[0]


# readers -----------------------------------------------------------------------------------
def test_each_format_is_read_with_its_structure(folder):
    docs = {Path(d.source).name: d for d in DocumentReader().read([folder])}
    assert sorted(docs) == ["audit.docx", "handover.md", "leaflet.html", "letter.pdf", "plain.txt"]
    pdf = docs["letter.pdf"]
    assert [p.strip() for p in pdf.pages] == [
        "\n".join(LETTER),
        "Page two names the rheumatology review in March.",
        "Page three: the patient consented to the plan.",
    ]
    assert pdf.title == "Referral letter" and "rheumatology" in pdf.text
    docx = docs["audit.docx"]
    assert docx.title == "Discharge letter audit"
    assert "# Summary" in docx.text.splitlines()  # headings kept as Markdown, for passages
    assert "Warfarin | 31" in docx.text.splitlines()  # the table, a row a line
    html = docs["leaflet.html"]
    assert html.text == "\n\n".join(["# Knee pain", *LEAFLET]) and html.title == "Knee pain"
    assert "All rights reserved" not in html.text and "About us" not in html.text
    assert docs["handover.md"].text.startswith("# Handover")


def test_two_column_pdf_is_read_column_by_column(tmp_path):
    left = ["The left column begins the report", "and ends its first sentence here."]
    right = ["The right column starts later", "and reads after the left one."]
    path = write_pdf(tmp_path / "two.pdf", [column(left) + column(right, x=320)])
    text = DocumentReader().read_file(path)[0].text
    assert text.index("first sentence") < text.index("The right column")
    assert " ".join(left) in " ".join(text.split())


def test_glob_picks_files_and_hidden_ones_are_never_read(folder):
    (folder / ".hidden.md").write_text("# secret\n\ntext\n")
    reader = DocumentReader(glob="**/*.md")
    assert [Path(d.source).name for d in reader.read([folder])] == ["handover.md"]
    assert ".hidden.md" not in [Path(d.source).name for d in DocumentReader().read([folder])]


def test_a_pdf_with_some_scanned_pages_is_read_with_a_note(tmp_path):
    lines = []
    path = write_pdf(tmp_path / "mixed.pdf", [column(LETTER), [], column(LETTER)], (1,))
    doc = DocumentReader(warn=lines.append).read_file(path)[0]
    assert lines == [f"note: {path}: page 2 of 3 has no text (scanned?); the other pages are read"]
    assert doc.pages[1] == "" and len(doc.pages) == 3


def test_a_missing_extra_is_one_line_naming_it(tmp_path, monkeypatch):
    path = write_pdf(tmp_path / "a.pdf", [column(LETTER)])
    monkeypatch.setitem(sys.modules, "pypdf", None)  # as if the extra were not installed
    hint = r"pypdf is not installed; reading \.pdf files needs it: pip install .*\[documents\]"
    with pytest.raises(ZestError, match=hint):
        DocumentReader().read_file(path)


# bad files ---------------------------------------------------------------------------------
def bad_files(root: Path) -> dict[str, tuple[Path, str]]:
    """Each kind of file that cannot be read, and what its warning says."""
    root.mkdir(parents=True, exist_ok=True)
    corrupt = root / "corrupt.docx"
    corrupt.write_bytes(b"PK\x03\x04 this zip stops here")
    huge = root / "huge.txt"
    with huge.open("wb") as file:  # 200 MB, sparse: made at once, never read
        file.truncate(200_000_000)
    (root / "empty.md").write_bytes(b"")
    (root / "photo.heic").write_bytes(b"\x00\x00\x00\x18ftypheic")
    return {
        "encrypted": (
            write_pdf(root / "locked.pdf", [column(LETTER)], password="s3cret"),
            "encrypted (it needs a password",
        ),
        "scanned": (
            write_pdf(root / "scan.pdf", [[], []], image_pages=(0, 1)),
            "no text on any of its 2 pages (a scanned or image-only PDF: run OCR on it first)",
        ),
        "corrupt docx": (corrupt, "not a readable DOCX"),
        "unknown type": (root / "photo.heic", "unknown type '.heic'"),
        "empty": (root / "empty.md", "empty"),
        "200 MB": (huge, "200 MB, over the 100 MB limit (set ZEST_MAX_FILE_MB)"),
    }


def test_bad_files_in_a_folder_are_skipped_one_line_each_and_counted(tmp_path, db_path):
    folder = make_folder(tmp_path / "docs")
    bad = bad_files(folder / "bad")
    result = CliRunner().invoke(
        cli, ["run", "--exemplars", str(folder), "--generator", "fake", "--docs", "4",
              "--anchors", "2", "--db", str(db_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == len(bad)
    for path, why in bad.values():
        assert sum(line.startswith(f"warning: skipped {path}: ") for line in warnings) == 1
        assert any(why in line for line in warnings), why
    assert f"skipped {len(bad)} files that could not be read (named above)" in result.stderr
    exemplars = zest.Store(db_path).exemplars(1)
    assert {Path(e["source"]).name for e in exemplars} <= {
        "audit.docx", "handover.md", "leaflet.html", "letter.pdf", "plain.txt"
    }  # fmt: skip
    assert len(exemplars) == 5


@pytest.mark.parametrize("case", ["encrypted", "scanned", "corrupt docx", "unknown type",
                                  "empty", "200 MB"])  # fmt: skip
def test_strict_stops_at_a_bad_file_with_one_error(tmp_path, db_path, case):
    folder = make_folder(tmp_path / "docs")
    path, why = bad_files(tmp_path / "bad")[case]
    path.rename(folder / path.name)
    result = CliRunner().invoke(
        cli, ["run", "--exemplars", str(folder), "--strict", "--generator", "fake",
              "--db", str(db_path)],
    )  # fmt: skip
    assert result.exit_code == 1
    line = error_line(result.output)
    assert line.startswith(f"Error: {folder / path.name}: ") and why in line
    assert "--strict" in line


def test_a_file_named_that_cannot_be_read_is_one_error(tmp_path, db_path):
    path, why = bad_files(tmp_path)["encrypted"]
    result = CliRunner().invoke(cli, ["run", "--exemplars", str(path), "--db", str(db_path)])
    assert result.exit_code == 1 and why in error_line(result.output)


# issue 32: files that never end, block, or grow past the limit; a title that is no string
def test_a_fifo_is_refused_not_waited_on(tmp_path):
    fifo = tmp_path / "exemplars.jsonl"
    os.mkfifo(fifo)
    done = subprocess.run(
        fake_cli("run", "--exemplars", fifo, "--generator", "fake", "--db", tmp_path / "z.db"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert error_line(done.stderr) == (
        f"Error: {fifo}: not a regular file (a FIFO, device or socket is never read)"
    )


def test_dev_zero_is_refused_at_once(tmp_path):
    done = subprocess.run(
        fake_cli("run", "--exemplars", "/dev/zero", "--generator", "fake",
                 "--db", tmp_path / "z.db"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1 and "/dev/zero: not a regular file" in error_line(done.stderr)


@pytest.mark.parametrize("name", ["big.jsonl", "big.txt"])
def test_a_file_over_the_limit_is_one_error_and_the_limit_is_settable(tmp_path, name):
    path = tmp_path / name
    line = json.dumps({"text": "word " * 200}) + "\n"
    path.write_text(line * 1100)  # about 1.1 MB
    env = {**os.environ, "ZEST_MAX_FILE_MB": "1"}
    args = ["run", "--exemplars", path, "--generator", "fake", "--docs", "2", "--anchors", "1"]
    done = subprocess.run(
        fake_cli(*args, "--db", tmp_path / "a.db"), capture_output=True, text=True, env=env
    )
    assert done.returncode == 1
    assert "MB, over the 1 MB limit (set ZEST_MAX_FILE_MB)" in error_line(done.stderr)
    env["ZEST_MAX_FILE_MB"] = "2"
    done = subprocess.run(
        fake_cli(*args, "--db", tmp_path / "b.db"), capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("title", [["t"], 3, {"a": 1}])
def test_a_title_that_is_not_a_string_is_one_error(tmp_path, db_path, title):
    path = tmp_path / "ex.jsonl"
    path.write_text(json.dumps({"title": title, "text": "a b c"}) + "\n")
    result = CliRunner().invoke(
        cli, ["run", "--exemplars", str(path), "--generator", "fake", "--db", str(db_path)]
    )
    assert result.exit_code == 1
    assert error_line(result.output) == (
        f'Error: {path}, line 1: "title" must be a string, not {type(title).__name__}'
    )


# exemplars ---------------------------------------------------------------------------------
def test_run_from_a_folder_of_documents_tells_which_exemplars_were_cut(tmp_path, db_path):
    folder = make_folder(tmp_path / "docs")
    long = folder / "long.md"
    long.write_text("# Long\n\n" + " ".join(f"word{i}" for i in range(400)) + "\n")
    result = CliRunner().invoke(
        cli, ["run", "--exemplars", str(folder), "--k", "6", "--generator", "fake",
              "--docs", "4", "--anchors", "2", "--db", str(db_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if "the prompts showed" in line]
    assert notes == [
        "note: 1 of 6 exemplars were longer than 160 words; the prompts showed the first 160 of"
        f" each (the template's exemplar_words): {long}"
    ]
    texts = [e["text"] for e in zest.Store(db_path).exemplars(1)]
    assert any("Warfarin | 31" in t for t in texts) and any("rheumatology" in t for t in texts)


def test_exemplar_jsonl_and_folders_read_as_before(tmp_path):
    pool = tmp_path / "pool"
    pool.mkdir()
    (pool / "a.jsonl").write_text('{"text": "alpha", "title": " A "}\n{"text": "beta"}\n')
    (pool / "b.txt").write_text("gamma\n")
    docs = read_exemplars([str(pool)])
    assert [(d["title"], d["text"]) for d in docs] == [("A", "alpha"), (None, "beta"),
                                                       (None, "gamma")]  # fmt: skip
    assert docs[0]["source"] == f"{pool / 'a.jsonl'}#1"


# passages ----------------------------------------------------------------------------------
def words(text: str) -> int:
    return len(text.split())


def test_passages_split_on_headings_fit_the_budget_and_overlap():
    paragraph = " ".join(f"w{i}." for i in range(30))
    text = "# One\n\nshort intro\n\n## Two\n\n" + paragraph + "\n\n" + paragraph
    passages = split_passages(Document(text, "x.md"), tokens=40, overlap=5, count=words)
    assert passages[0].text == "# One\n\nshort intro"  # a heading starts a passage
    assert passages[1].text.startswith("## Two")
    assert all(words(p.text) <= 40 for p in passages)
    assert [p.position for p in passages] == list(range(1, len(passages) + 1))
    second, third = passages[1].text.split(), passages[2].text.split()
    assert third[:5] == second[-5:]  # the overlap: the previous passage's last 5 tokens
    everything = " ".join(p.text for p in passages)
    assert all(f"w{i}." in everything for i in range(30))


def test_a_paragraph_over_the_budget_is_cut_at_sentences_then_words():
    sentences = "First sentence here. " + " ".join(["long"] * 25) + ". Last one."
    passages = split_passages(Document(sentences, "x.txt"), tokens=10, overlap=0, count=words)
    assert passages[0].text.startswith("First sentence here.")
    assert all(words(p.text) <= 10 for p in passages)
    assert passages[-1].text.endswith("Last one.")
    assert sum(words(p.text) for p in passages) == words(sentences)  # nothing lost


def test_pdf_passages_keep_their_page():
    doc = Document("", "a.pdf", pages=["one two three", "", "four five six seven"])
    passages = split_passages(doc, tokens=2, overlap=0, count=words)
    assert [(p.text, p.page) for p in passages] == [
        ("one two", 1), ("three", 1), ("four five", 3), ("six seven", 3)
    ]  # fmt: skip


# embed, index, search ----------------------------------------------------------------------
FAST = ["-o", "max_seq_length=48"]  # the real MiniLM, reading at most 48 tokens


@pytest.fixture(scope="module")
def embedded(tmp_path_factory):
    root = tmp_path_factory.mktemp("documents")
    folder = make_folder(root / "docs")
    bad_files(folder / "bad")
    out = root / "embedded"
    result = CliRunner().invoke(
        cli, ["embed", str(folder), "--context", "none", "--out", str(out),
              "--db", str(root / "z.db"), *FAST],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    result2 = CliRunner().invoke(cli, ["index", str(out)])
    assert result2.exit_code == 0, result2.output
    return {"folder": folder, "out": out, "result": result, "root": root}


@pytest.mark.slow
def test_embed_a_folder_into_passages_with_file_and_page(embedded):
    out, result = embedded["out"], embedded["result"]
    assert sum(line.startswith("warning: skipped") for line in result.stderr.splitlines()) == 6
    meta = json.loads((out / "meta.json").read_text())
    assert meta["passages"]["tokens"] == 46 and meta["passages"]["documents"] == 5
    passages = [json.loads(line) for line in (out / "passages.jsonl").open()]
    assert meta["count"] == len(passages) > 5  # long documents became several passages
    pages = {p["page"] for p in passages if p["document"].endswith("letter.pdf")}
    assert pages == {1, 2, 3}
    assert not any("bad" in p["document"] for p in passages)  # nothing of a skipped file


@pytest.mark.slow
def test_search_names_file_and_page_and_groups_by_document(embedded):
    index = embedded["out"] / "index"
    result = CliRunner().invoke(
        cli, ["search", str(index), "rheumatology review in March", "--top-k", "3", "--json"]
    )
    assert result.exit_code == 0, result.output
    top = json.loads(result.stdout)["hits"][0]
    assert top["file"] == str(embedded["folder"] / "letter.pdf") and top["page"] == 2
    assert top["id"] == f"letter.pdf#{top['passage']}"
    result = CliRunner().invoke(
        cli, ["search", str(index), "warfarin doses missing", "--group-by", "document",
              "--top-k", "2", "--json"],
    )  # fmt: skip
    documents = json.loads(result.stdout)["documents"]
    assert len(documents) == 2 and len({d["file"] for d in documents}) == 2
    assert all(h["file"] == d["file"] for d in documents for h in d["hits"])
    assert documents[0]["score"] == documents[0]["hits"][0]["score"]
    text = CliRunner().invoke(cli, ["search", str(index), "rheumatology review"]).stdout
    assert f"  ({embedded['folder'] / 'letter.pdf'}, page 2)" in text.splitlines()[1]


@pytest.mark.slow
def test_embed_resume_with_other_passage_settings_is_refused(embedded):
    result = CliRunner().invoke(
        cli, ["embed", str(embedded["folder"]), "--context", "none", "--out",
              str(embedded["out"]), "--passage-tokens", "20", "--db",
              str(embedded["root"] / "z.db"), *FAST],
    )  # fmt: skip
    assert result.exit_code == 1 and "holds embeddings of another run" in result.output


@pytest.mark.slow
def test_python_api_reads_embeds_and_searches_documents(embedded, tmp_path):
    docs = zest.read_documents([embedded["folder"]])  # the bad files: skipped, warned
    assert {Path(d.source).name for d in docs} >= {"letter.pdf", "audit.docx"}
    encoder = zest.load_encoder("hybrid", "none", max_seq_length=48)
    try:
        single = tmp_path / "letter.pdf"
        single.write_bytes((embedded["folder"] / "letter.pdf").read_bytes())
        meta = zest.embed(encoder, single, tmp_path / "out")
        assert meta["passages"]["documents"] == 1
        index = zest.SearchIndex(zest.build_index(tmp_path / "out"))
        hits = zest.search_passages(index, encoder, ["patient consented"], top_k=1)
        assert (hits[0][0]["file"], hits[0][0]["page"]) == (str(single), 3)
    finally:
        encoder.close()


def test_exemplars_pick_reads_a_folder_of_documents(tmp_path, db_path):
    folder = make_folder(tmp_path / "docs")
    out = tmp_path / "picked.jsonl"
    result = CliRunner().invoke(
        cli, ["exemplars", "pick", str(folder), "--k", "5", "--method", "random",
              "-o", str(out), "--db", str(db_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    picked = [json.loads(line) for line in out.open()]
    assert sorted(Path(p["source"]).name for p in picked) == [
        "audit.docx", "handover.md", "leaflet.html", "letter.pdf", "plain.txt"
    ]  # fmt: skip
