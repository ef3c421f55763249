"""Real documents for the reader tests, written with real libraries: PDFs with pypdf (text
pages, two columns, an image-only "scanned" page, an encrypted file), DOCX with
python-docx (headings, a table), HTML and Markdown as text. Also used by
benchmarks/read_throughput.py.

pypdf writes a page's content stream as given, so a page here is Helvetica text at chosen
positions: what a word processor's PDF export holds, without its fonts' subsets.
"""

import html
from pathlib import Path

LEFT, RIGHT, TOP, LEADING = 72, 320, 720, 14


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def write_pdf(
    path: Path,
    pages: list[list[tuple[float, float, str]]],
    image_pages: tuple[int, ...] = (),
    password: str | None = None,
    title: str | None = None,
) -> Path:
    """A PDF of ``pages``, each a list of ``(x, y, text)`` lines drawn in that order; the
    pages in ``image_pages`` (0-based) hold only an 8x8 grey image (a scanned page without a
    text layer); ``password`` encrypts it (RC4-128, which pypdf reads without extras)."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject, NumberObject

    writer = PdfWriter()
    font = writer._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
                NameObject("/Encoding"): NameObject("/WinAnsiEncoding"),
            }
        )
    )
    for number, lines in enumerate(pages):
        page = writer.add_blank_page(612, 792)
        resources = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        if number in image_pages:
            image = DecodedStreamObject()
            image.set_data(bytes(range(0, 256, 4)))
            image.update(
                {
                    NameObject("/Type"): NameObject("/XObject"),
                    NameObject("/Subtype"): NameObject("/Image"),
                    NameObject("/Width"): NumberObject(8),
                    NameObject("/Height"): NumberObject(8),
                    NameObject("/ColorSpace"): NameObject("/DeviceGray"),
                    NameObject("/BitsPerComponent"): NumberObject(8),
                }
            )
            resources[NameObject("/XObject")] = DictionaryObject(
                {NameObject("/Im1"): writer._add_object(image)}
            )
            operators = ["q 400 0 0 500 100 150 cm /Im1 Do Q"]
        else:
            operators = [f"BT /F1 11 Tf {x} {y} Td ({_escape(text)}) Tj ET" for x, y, text in lines]
        content = DecodedStreamObject()
        content.set_data("\n".join(operators).encode("cp1252"))
        page[NameObject("/Contents")] = writer._add_object(content)
        page[NameObject("/Resources")] = resources
    if title:
        writer.add_metadata({"/Title": title})
    if password:
        writer.encrypt(password, algorithm="RC4-128")
    with path.open("wb") as file:
        writer.write(file)
    return path


def column(lines: list[str], x: float = LEFT) -> list[tuple[float, float, str]]:
    """Lines of one column from the top of the page down."""
    return [(x, TOP - i * LEADING, line) for i, line in enumerate(lines)]


def write_docx(path: Path, title: str, sections: list[tuple[str, list[str]]], table=None) -> Path:
    """A DOCX with a title, headed sections of paragraphs, and an optional table (rows of
    cells) after the first section."""
    import docx

    document = docx.Document()
    document.core_properties.title = title
    document.add_heading(title, level=0)
    for number, (heading, paragraphs) in enumerate(sections):
        document.add_heading(heading, level=1)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
        if table and number == 0:
            grid = document.add_table(rows=len(table), cols=len(table[0]))
            for row, cells in zip(grid.rows, table):
                for cell, text in zip(row.cells, cells):
                    cell.text = text
    document.save(path)
    return path


def write_html(path: Path, title: str, paragraphs: list[str]) -> Path:
    """An article page with navigation and a footer around it, as a saved web page is."""
    body = "".join(f"<p>{html.escape(p)}</p>\n" for p in paragraphs)
    path.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        "<body><nav><a href='/'>Home</a> | <a href='/about'>About us</a></nav>"
        f"<main><article><h1>{title}</h1>\n{body}</article></main>"
        "<footer>Copyright 2026 Example Clinic. All rights reserved.</footer></body></html>",
        encoding="utf-8",
    )
    return path


def write_markdown(path: Path, title: str, sections: list[tuple[str, list[str]]]) -> Path:
    parts = [f"# {title}"]
    for heading, paragraphs in sections:
        parts.append(f"## {heading}")
        parts += paragraphs
    path.write_text("\n\n".join(parts) + "\n", encoding="utf-8")
    return path
