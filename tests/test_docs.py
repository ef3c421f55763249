"""The docs that are generated from the code are current, and the code passes ruff.

Regenerate with ``cog -I docs -r docs/*.md docs/plugins/*.md``; format with ``ruff format .``.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert len(block) == 2 and "zest run" in block[0] and "pytest" in block[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()
    assert ci[-1] == block[1]
    assert "./examples/zest-echo" in block[1]  # CI installs the example plugin package


@pytest.mark.slow
def test_readme_python_example_runs(tmp_path, monkeypatch, capsys):
    """The README's Python example, run as written, against a store with a 'scifact' corpus
    (made by the tests' fake generator, as the quick start's zest run would make one)."""
    from zest_core.corpus import pipeline
    from zest_core.corpus.exemplars import read_exemplars
    from zest_core.corpus.store import Store

    monkeypatch.setenv("ZEST_DB", str(tmp_path / "zest.db"))
    exemplars = read_exemplars([str(ROOT / "corpora" / "scifact")])
    pipeline.start(
        Store(), exemplars=exemplars, corpus="scifact", generator="fake", n_anchors=2, n_docs=8
    )
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert capsys.readouterr().out.strip() == "0"
    both = namespace["both"]
    assert both.dense.shape[0] == 2 and both.sparse is not None and both.sparse.nnz > 0
    namespace["enc"].close()


LINK = re.compile(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)")


def anchors(page: Path) -> set[str]:
    """GitHub's ids for the page's headings: lower case, punctuation dropped, spaces to -."""
    text = page.read_text(encoding="utf-8")
    headings = re.findall(r"^#+ (.+)$", re.sub(r"```.*?```", "", text, flags=re.S), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_relative_links_resolve():
    broken = []
    for page in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]:
        for target, anchor in LINK.findall(page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            path = (page.parent / target) if target else page
            if not path.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                broken.append(f"{page.relative_to(ROOT)}: {target}#{anchor}")
    assert not broken, "\n".join(broken)


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
