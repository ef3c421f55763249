"""The docs that are generated from the code are current, and the code passes ruff.

Regenerate with ``cog -I docs -r docs/*.md docs/plugins/*.md``; format with ``ruff format .``.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLE = ROOT / "examples" / "zest-echo"
REGENERATE = "cog -I docs -r docs/*.md docs/plugins/*.md"


def generated_pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "[[[cog" in p.read_text(encoding="utf-8"))


def cog_check(*pages: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cogapp", "--check", "-I", str(DOCS), *pages],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_generated_pages_are_current():
    pages = generated_pages()
    names = {p.relative_to(DOCS).as_posix() for p in pages}
    assert {"cli.md", "generators.md", "filters.md", "encoders.md", "plugins/tutorial.md"} <= names
    done = cog_check(*pages)
    assert done.returncode == 0, f"{done.stdout}{done.stderr}\nregenerate with: {REGENERATE}"


def test_a_stale_page_fails_the_check(tmp_path):
    stale = tmp_path / "cli.md"
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    stale.write_text(text.replace("Usage: zest run", "Usage: zest go", 1), encoding="utf-8")
    assert stale.read_text(encoding="utf-8") != text
    done = cog_check(stale)
    assert done.returncode != 0 and "changed" in (done.stdout + done.stderr)


def test_tutorial_shows_every_file_of_the_example_package():
    tutorial = (DOCS / "plugins" / "tutorial.md").read_text(encoding="utf-8")
    files = [EXAMPLE / "pyproject.toml", *sorted((EXAMPLE / "zest_echo").glob("*.py"))]
    for path in files:
        included = f'docgen.include("{path.relative_to(ROOT).as_posix()}"'
        assert included in tutorial, f"the tutorial does not include {path}"


def ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_ruff_lint():
    done = ruff("check", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format():
    done = ruff("format", "--check", ".")
    assert done.returncode == 0, done.stdout + done.stderr + "\nformat with: ruff format ."
