"""Install hints: every ``pip install`` the code tells a user to run names zest-core (or a
checkout), in the form that works where zest-core is installed (``zest_core/deps.py``)."""

import re
from pathlib import Path

import pytest

from zest_core import deps
from zest_core.errors import ZestError

ROOT = Path(__file__).resolve().parent.parent
OPTIONS_WITH_VALUES = {"-c", "--constraint", "-r", "--requirement"}


def install_targets(text: str) -> list[str]:
    """What each ``pip install`` in ``text`` installs: its first argument that is no option."""
    targets = []
    for rest in re.findall(r"pip install\b([^\n]*)", text):
        words = iter(w.strip("'\"`(),;:") for w in rest.split())
        for word in words:
            if word in OPTIONS_WITH_VALUES:
                next(words, None)
            elif not word.startswith("-") and word:
                targets.append(word)
                break
    return targets


def foreign(target: str) -> bool:
    """A target that is neither zest-core, a path (a checkout, ``.``) nor a format field."""
    return not re.match(r"(zest-core(\[|$)|[./{])", target)


def test_the_parser_finds_foreign_distributions():
    assert install_targets("run: pip install 'zest[trim]' now") == ["zest[trim]"]
    assert [foreign(t) for t in install_targets("pip install wordfreq")] == [True]
    sample = """pip install -c constraints.txt -e ".[embed]"\n(pip install 'zest-core[search]')"""
    assert install_targets(sample) == [".[embed]", "zest-core[search]"]
    assert not any(foreign(t) for t in install_targets(sample))


def test_no_message_in_the_code_names_another_distribution():
    files = sorted([*ROOT.glob("zest_core/**/*.py"), *ROOT.glob("plugins/**/*.py")])
    assert len(files) > 50
    found = [
        f"{path.relative_to(ROOT)}: pip install {target}"
        for path in files
        for target in install_targets(path.read_text(encoding="utf-8"))
        if foreign(target)
    ]
    assert found == []


def test_require_names_the_extra_with_this_install_s_hint():
    with pytest.raises(ZestError) as e:
        deps.require("zest_no_such_module", extra="ollama", by="a test")
    assert str(e.value) == (
        "the Python package zest_no_such_module is not installed; a test needs it: "
        + deps.install_hint("ollama")
    )


def test_hints_follow_the_install(monkeypatch, tmp_path):
    checkout = deps.editable_checkout()
    if checkout is None:  # a regular install: the hint names the distribution
        assert deps.install_hint("ollama") == "pip install 'zest-core[ollama]'"
        assert deps.install_hint("embed") == "pip install 'zest-core[embed]'"
        return
    assert (checkout / "pyproject.toml").is_file()
    monkeypatch.chdir(checkout)
    assert deps.install_hint("ollama") == 'pip install -e ".[ollama]"'
    assert deps.install_hint("embed") == 'pip install -c constraints.txt -e ".[embed]"'
    monkeypatch.chdir(tmp_path)
    assert deps.install_hint("ollama") == f'pip install -e "{checkout}[ollama]"'


def test_every_install_hint_comes_from_deps():
    """A message that names a pip command is built by ``deps.install_hint`` (through
    ``require`` or directly), so it follows the install; docstrings and the plugin kit's
    instructions for a new plugin package are not messages about zest-core."""
    import ast

    files = sorted([*ROOT.glob("zest_core/**/*.py"), *ROOT.glob("plugins/**/*.py")])
    found = []
    for path in files:
        if path.name == "deps.py" or path.name == "scaffold.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and "pip install" in node.value
                and id(node) not in docstrings
            ):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []
