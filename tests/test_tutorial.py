"""The plugin docs cannot drift: every console example in docs/plugins/ is run and compared,
and the package ``zest plugins new`` writes installs, lists and passes its own tests.

Nothing is installed into this environment: tests/tutorial_runner.py makes a package
importable the way ``pip install -e`` does, in a scratch folder (its module doc says how).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from tutorial_runner import ROOT, Sandbox, normalise, play, steps

from zest_core.cli import cli
from zest_core.commands.scaffold import skeleton

PAGES = sorted((ROOT / "docs" / "plugins").glob("*.md"))
UPDATE = "python tests/tutorial_runner.py"


def console_pages() -> list[Path]:
    return [p for p in PAGES if any(kind == "step" for kind, _ in steps(p.read_text()))]


def test_the_tutorial_shows_console_examples_and_no_placeholders():
    assert ROOT / "docs" / "plugins" / "tutorial.md" in console_pages()
    text = (ROOT / "docs" / "plugins" / "tutorial.md").read_text(encoding="utf-8")
    for stale in ("ZEST_REPOSITORY_URL", "setuptools>=68", "sentences='0'", "corpora/scifact"):
        assert stale not in text
    commands = [s.command for kind, s in steps(text) if kind == "step"]
    assert "zest plugins new wordcount" in commands
    # every command that uses the store names it: the version ids shown are the reader's
    assert all(
        "--db" in c for c in commands if c.split()[:2] in (["zest", "run"], ["zest", "filter"])
    )


@pytest.mark.slow
@pytest.mark.model
@pytest.mark.parametrize("page", console_pages(), ids=lambda p: p.name)
def test_console_examples_print_what_the_page_shows(page, tmp_path):
    """Each ``$ command`` of the page, run in order in a scratch folder, prints the output
    shown under it (numbers and spacing aside)."""
    for step, output, sandbox in play(page, tmp_path):
        assert normalise(output, sandbox) == normalise(step.shown), (
            f"{page.name}: `{step.command}` printed\n{output}\n"
            f"regenerate the page's outputs with: {UPDATE} {page.relative_to(ROOT)}"
        )


def test_a_changed_message_is_caught():
    shown = "Error: option min_words for 'wordcount' must be at least 1 (got '0')\n"
    assert normalise(shown) == normalise(shown.replace("'0'", "'7'"))  # numbers aside
    assert normalise(shown) != normalise(shown.replace("must be", "should be"))
    assert normalise("kept 3,  dropped 1 in 0.1 s") == normalise("kept 4, dropped 2 in 12.5 s")


# zest plugins new --------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["filter", "generator"])
def test_the_skeleton_installs_lists_and_passes_its_own_tests(kind, tmp_path):
    """``zest plugins new`` into a scratch folder, made importable as ``pip install -e`` would,
    then its own tests/test_plugin.py in a fresh pytest process."""
    sandbox = Sandbox(tmp_path)
    assert sandbox.run(f"zest plugins new my-{kind} --kind {kind}").startswith("wrote")
    sandbox.run(f"pip install -e zest-my-{kind}")
    listed = sandbox.run("zest plugins")
    assert f"my-{kind}" in next(line for line in listed.splitlines() if line.startswith(kind))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=tmp_path / f"zest-my-{kind}",
        env=sandbox.env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_the_skeleton_uses_only_the_public_api_and_declares_zest_core():
    import ast
    import tomllib

    import zest_core

    for kind in ("filter", "generator"):
        files = skeleton("word-count", kind)
        assert set(files) == {
            "pyproject.toml",
            "README.md",
            "zest_word_count/__init__.py",
            "tests/test_plugin.py",
        }
        project = tomllib.loads(files["pyproject.toml"])
        assert project["project"]["dependencies"] == ["zest-core"]
        assert project["project"]["entry-points"]["zest"] == {"word-count": "zest_word_count"}
        assert project["build-system"]["requires"] == ["setuptools>=77"]
        tree = ast.parse(files["zest_word_count/__init__.py"])
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module.startswith("zest_core"):
                assert node.module == "zest_core"
                assert {alias.name for alias in node.names} <= set(zest_core.__all__)


def test_new_writes_into_dir_and_says_what_it_wrote(tmp_path):
    target = tmp_path / "here"
    target.mkdir()  # an empty folder is fine
    result = CliRunner().invoke(cli, ["plugins", "new", "zest-shout", "--dir", str(target)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"wrote {target}/: pyproject.toml, README.md")
    assert (target / "zest_shout" / "__init__.py").exists()
    assert (target / "tests" / "test_plugin.py").exists()


@pytest.mark.parametrize(
    "args,message",
    [
        (["Bad_Name"], "Error: plugin name 'Bad_Name' is not lower-case letters and digits"),
        (["9lives"], "Error: plugin name '9lives' is not"),
        (["ok", "--kind", "encoder"], "Error: Invalid value for '--kind'"),
    ],
)
def test_new_refuses_bad_input_with_one_error_line(args, message, tmp_path):
    result = CliRunner().invoke(cli, ["plugins", "new", *args, "--dir", str(tmp_path / "x")])
    assert result.exit_code != 0
    assert message in result.output
    assert not (tmp_path / "x").exists()


def test_new_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = CliRunner().invoke(cli, ["plugins", "new", "shout", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [
        f"Error: {tmp_path} already exists and is not an empty folder; choose another --dir"
    ]
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_plugins_still_lists_without_a_subcommand():
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0 and "filters:" in result.output
