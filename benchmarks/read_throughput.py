"""Reading throughput and text quality of zest's document readers (pypdf, python-docx,
trafilatura: the ``documents`` extra) against markitdown, on the same generated files.

    pip install 'zest-core[documents]' 'markitdown[pdf,docx]'   # markitdown: benchmark only
    nice python benchmarks/read_throughput.py --files 5 --pages 100 --rounds 2

Files are written by ``tests/make_documents.py`` (real pypdf and python-docx output) from
real SciFact abstracts (``../shared/data/beir/scifact``): ``--files`` single-column PDFs of
``--pages`` pages in all, as many two-column PDFs, DOCX files with a heading per section and
a table, and HTML articles with navigation and a footer around them. Each reader reads each
file ``--rounds`` times, the readers alternating; the best round counts. Quality, per
format: the share of the source lines found whole (whitespace aside) in the extracted text,
table rows read as rows, the boilerplate left out (HTML), and whether pages are told apart
(PDF). Prints a markdown table (docs/your-documents.md) and writes ``results.json`` under
``--out``.
"""

import argparse
import json
import platform
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from make_documents import RIGHT, column, write_docx, write_html, write_pdf  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "data" / "beir" / "scifact" / "corpus.jsonl"
LINES_PER_PAGE = 40
CHARS_PER_LINE = 80
BOILERPLATE = ("About us", "All rights reserved")


def source_lines(count: int) -> list[str]:
    """``count`` lines of about 80 characters, from real abstracts (Latin-1 only: the
    generated PDFs use a standard Type 1 font)."""
    lines, line = [], []
    with SCIFACT.open() as file:
        for row in file:
            for word in json.loads(row)["text"].split():
                if not word.isascii():
                    continue
                line.append(word)
                if len(" ".join(line)) >= CHARS_PER_LINE:
                    lines.append(" ".join(line))
                    line = []
                    if len(lines) == count:
                        return lines
    return lines


def make_files(out: Path, files: int, pages: int) -> dict[str, list[tuple[Path, dict]]]:
    """Each format's files with what each should yield (``lines``, table ``rows``)."""
    per_file = max(1, pages // files)
    text = iter(source_lines(2 * files * per_file * LINES_PER_PAGE + files * 200))
    made: dict[str, list[tuple[Path, dict]]] = {"pdf": [], "pdf-2col": [], "docx": [], "html": []}
    for n in range(files):
        body = [[next(text) for _ in range(LINES_PER_PAGE)] for _ in range(per_file)]
        path = write_pdf(out / f"single-{n}.pdf", [column(page) for page in body])
        made["pdf"].append((path, {"lines": sum(body, []), "pages": body}))
        half = LINES_PER_PAGE // 2
        cols = [[next(text)[:44] for _ in range(2 * half)] for _ in range(per_file)]
        pages2 = [column(c[:half]) + column(c[half:], x=RIGHT) for c in cols]
        path = write_pdf(out / f"two-column-{n}.pdf", pages2)
        made["pdf-2col"].append((path, {"lines": sum(cols, []), "pages": cols}))
        sections = [(f"Section {s + 1}", [next(text) + " " + next(text) for _ in range(4)])
                    for s in range(5)]  # fmt: skip
        table = [["Measure", "Value"], *[[f"measure {r}", f"{r * 7} mg"] for r in range(6)]]
        path = write_docx(out / f"report-{n}.docx", f"Report {n}", sections, table)
        made["docx"].append((path, {"lines": sum((p for _, p in sections), []), "rows": table}))
        paragraphs = [next(text) + " " + next(text) for _ in range(12)]
        path = write_html(out / f"page-{n}.html", f"Page {n}", paragraphs)
        made["html"].append((path, {"lines": paragraphs}))
    return made


def flat(text: str) -> str:
    return " ".join(text.split())


def quality(kind: str, text: str, pages: list[str] | None, expected: dict) -> dict:
    found = flat(text)
    lines = expected["lines"]
    result = {"lines_whole": sum(flat(line) in found for line in lines) / len(lines)}
    if "rows" in expected:
        rows = expected["rows"][1:]
        result["table_rows_as_rows"] = sum(
            bool(re.search(rf"{re.escape(a)}\W+{re.escape(b)}", found)) for a, b in rows
        ) / len(rows)
    if kind == "html":
        result["boilerplate_left_out"] = all(b not in text for b in BOILERPLATE)
    if kind.startswith("pdf"):
        want = len(expected["pages"])
        result["pages_told_apart"] = pages is not None and len(pages) == want
    return result


def zest_reader():
    from zest_core.documents import DocumentReader

    reader = DocumentReader(warn=lambda line: None)

    def read(path: Path) -> tuple[str, list[str] | None]:
        doc = reader.read_file(path)[0]
        return doc.text, doc.pages

    return read


def markitdown_reader():
    from markitdown import MarkItDown

    converter = MarkItDown(enable_plugins=False)

    def read(path: Path) -> tuple[str, list[str] | None]:
        text = converter.convert(str(path)).text_content
        # pdfminer ends each page with a form feed, where markitdown keeps it
        pages = text.split("\f") if "\f" in text else None
        return text, pages[:-1] if pages and not pages[-1].strip() else pages

    return read


def measure(readers: dict, made: dict, rounds: int) -> list[dict]:
    """Each reader over each format's files, ``rounds`` times, the readers alternating
    within a round (a shared machine's load falls on both); the best round counts."""
    best: dict[tuple[str, str], float] = {}
    outputs: dict[tuple[str, str], list] = {}
    for _ in range(rounds):
        for kind, files in made.items():
            for name, read in readers.items():
                started = time.perf_counter()
                outputs[name, kind] = [read(path) for path, _ in files]
                elapsed = time.perf_counter() - started
                best[name, kind] = min(best.get((name, kind), elapsed), elapsed)
    rows = []
    for (name, kind), seconds in best.items():
        files = made[kind]
        scores = [
            quality(kind, text, pages, expected)
            for (text, pages), (_, expected) in zip(outputs[name, kind], files)
        ]
        pages = sum(len(e.get("pages", [None])) for _, e in files)
        mean = {k: sum(s[k] for s in scores) / len(scores) for k in scores[0]}
        rows.append(
            {"reader": name, "format": kind, "files": len(files), "pages": pages,
             "seconds": seconds, "pages_per_s": pages / seconds,
             "files_per_s": len(files) / seconds, **mean}
        )  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10, help="Files of each format.")
    parser.add_argument("--pages", type=int, default=400, help="PDF pages in all, per kind.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--readers", default="zest,markitdown")
    parser.add_argument("--out", type=Path, default=Path("/tmp/read-bench"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    made = make_files(args.out, args.files, args.pages)
    known = {"zest": zest_reader, "markitdown": markitdown_reader}
    rows = measure({name: known[name]() for name in args.readers.split(",")}, made, args.rounds)
    facts = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "command": " ".join(["python", *sys.argv]),
    }
    (args.out / "results.json").write_text(json.dumps({**facts, "rows": rows}, indent=2))
    print(f"{facts['date']}, {facts['command']}\n")
    print("| reader | format | files | pages | s | pages/s | files/s | lines whole | other |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        other = ", ".join(
            f"{k.replace('_', ' ')} {v:.2f}"
            if isinstance(v, float)
            else f"{k.replace('_', ' ')} {v}"
            for k, v in r.items()
            if k in ("table_rows_as_rows", "boilerplate_left_out", "pages_told_apart")
        )
        print(
            f"| {r['reader']} | {r['format']} | {r['files']} | {r['pages']} | {r['seconds']:.2f}"
            f" | {r['pages_per_s']:.1f} | {r['files_per_s']:.1f} | {r['lines_whole']:.3f}"
            f" | {other} |"
        )


if __name__ == "__main__":
    main()
