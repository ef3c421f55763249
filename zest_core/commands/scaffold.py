"""``zest plugins new``: the skeleton of a plugin package, ready to install and test.

It writes ``pyproject.toml`` (the ``zest`` entry point, ``dependencies = ["zest-core"]``), a
``README.md``, the plugin module (a working filter or generator that uses only names from
``zest_core``) and ``tests/test_plugin.py`` (pytest, in-process, nothing but zest-core).
docs/plugins/tutorial.md shows these files as this module writes them (docs/docgen.py).
"""

import re
from pathlib import Path

import click

from ..errors import ZestError
from ..plugin.hookspecs import hookimpl

KINDS = ("filter", "generator")
NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")

PYPROJECT = """\
[build-system]
# 77: the first setuptools that reads the SPDX string in `license` below
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "A zest {kind} plugin: {name}."
readme = "README.md"
requires-python = ">=3.11"
license = "Apache-2.0"
dependencies = ["zest-core"]

[project.optional-dependencies]
test = ["pytest>=8"]

# What makes this a zest plugin: every zest command loads the modules of the `zest` group.
[project.entry-points.zest]
{name} = "{module}"

[tool.setuptools]
packages = ["{module}"]
"""

README = """\
# {dist}

A plugin for zest (the distribution `zest-core`, the command `zest`): the {kind} `{name}`.

```bash
pip install -e ".[test]"     # from this folder; zest-core must be installable or installed
zest plugins                 # lists {name} with the hooks it implements
python -m pytest             # tests/test_plugin.py
```

{usage}
"""

USAGE = {
    "filter": "Use it with `zest filter VERSION --with {name}` (options: `-o min_words=N`).",
    "generator": "Use it with `zest run --exemplars PATH --generator {name}` (options:"
    " `-o words=N`).",
}

FILTER = '''\
"""{dist}: a zest filter plugin.

zest loads this module through the `zest` entry point in pyproject.toml and calls the
functions marked `@hookimpl`; their names say which hook each implements.
"""

from zest_core import Drop, Filter, Option, hookimpl


class {cls}(Filter):
    """Drops documents with fewer than `min_words` words."""

    name = "{name}"
    options = {{
        "min_words": Option(20, int, "drop documents shorter than this", min=1),
    }}

    def drops(self, documents, exemplars):
        limit = self.options["min_words"]
        for doc in documents:
            count = len(doc["text"].split())
            if count < limit:
                yield Drop(doc["id"], "too-short", f"{{count}} words (min_words={{limit}})")


@hookimpl
def register_filters(register):
    register({cls})
'''

GENERATOR = '''\
"""{dist}: a zest generator plugin.

zest loads this module through the `zest` entry point in pyproject.toml and calls the
functions marked `@hookimpl`; their names say which hook each implements.
"""

import random

from zest_core import Completion, Generator, Option, Request, hookimpl


class {cls}(Generator):
    """Writes words drawn from its prompt with the request's seed: a stand-in for a model
    (replace the body of `complete` with a call to yours)."""

    name = "{name}"
    options = {{
        "words": Option(16, int, "words per completion, at most max_tokens", min=1),
    }}

    def complete(self, request: Request) -> Completion:
        vocabulary = request.prompt.split() or ["nothing"]
        count = min(self.options["words"], request.max_tokens)
        text = " ".join(random.Random(request.seed).choices(vocabulary, k=count))
        prompt_tokens = len(request.prompt.split())
        return Completion(text, prompt_tokens=prompt_tokens, completion_tokens=count)


@hookimpl
def register_generators(register):
    register({cls})
'''

FILTER_TEST = '''\
"""Tests of {dist}: they need pytest and zest-core, and this package installed
(`pip install -e .`), so that zest finds it through its entry point."""

from click.testing import CliRunner
from zest_core.cli import cli

from {module} import {cls}


def test_drops_short_documents():
    documents = [
        {{"id": 1, "text": "Too short."}},
        {{"id": 2, "text": "This one has enough words to be kept by the filter."}},
    ]
    drops = list({cls}(min_words=5).drops(documents, exemplars=[]))
    assert [(drop.document_id, drop.reason) for drop in drops] == [(1, "too-short")]


def test_zest_lists_the_filter():
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0, result.output
    assert "{name}" in _listed(result.output, "filters")


def test_a_bad_option_is_one_error_line(tmp_path):
    db = str(tmp_path / "zest.db")
    result = CliRunner().invoke(
        cli, ["filter", "1", "--with", "{name}", "-o", "min_words=0", "--db", db]
    )
    assert result.exit_code == 1
    assert "Error: option min_words for '{name}' must be at least 1" in result.output


def _listed(output: str, kind: str) -> list[str]:
    line = next(line for line in output.splitlines() if line.startswith(kind + ":"))
    return [name.strip() for name in line.split(":", 1)[1].split(",")]
'''

GENERATOR_TEST = '''\
"""Tests of {dist}: they need pytest and zest-core, and this package installed
(`pip install -e .`), so that zest finds it through its entry point."""

import json

from click.testing import CliRunner
from zest_core import Request, Store
from zest_core.cli import cli

from {module} import {cls}


def test_the_seed_makes_it_reproducible():
    request = Request(key=0, prompt="a b c d e", max_tokens=8, temperature=0.7, seed=3)
    first, again = {cls}().complete(request), {cls}().complete(request)
    assert first == again and len(first.text.split()) == 8


def test_zest_run_writes_a_complete_version(tmp_path):
    db = str(tmp_path / "zest.db")
    args = ["--exemplars", _exemplars(tmp_path), "--generator", "{name}", "--db", db]
    result = CliRunner().invoke(cli, ["run", *args, "--anchors", "2", "--docs", "4"])
    assert result.exit_code == 0, result.output
    version = Store(db).versions()[0]
    assert version["status"] == "complete"
    assert len(Store(db).documents(version["id"])) == 4


def test_a_bad_option_is_one_error_line(tmp_path):
    db = str(tmp_path / "zest.db")
    args = ["--exemplars", _exemplars(tmp_path), "--generator", "{name}", "--db", db]
    result = CliRunner().invoke(cli, ["run", *args, "-o", "words=0"])
    assert result.exit_code == 1
    assert "Error: option words for '{name}' must be at least 1" in result.output


def _exemplars(folder) -> str:
    path = folder / "exemplars.jsonl"
    texts = ["Cells divide as they grow.", "Genes code for proteins.", "Neurons fire."]
    path.write_text("".join(json.dumps({{"text": text}}) + "\\n" for text in texts))
    return str(path)
'''


def skeleton(name: str, kind: str) -> dict[str, str]:
    """The files of the package for plugin ``name`` of ``kind``: path -> text."""
    if kind not in KINDS:
        raise ZestError(f"unknown plugin kind '{kind}' (choose one of: {', '.join(KINDS)})")
    name = name.removeprefix("zest-")
    if not NAME.fullmatch(name):
        raise ZestError(
            f"plugin name {name!r} is not lower-case letters and digits, words joined by '-'"
            " (for example: word-count)"
        )
    module = "zest_" + name.replace("-", "_")
    _check_free(name, module)
    fields = {
        "name": name,
        "kind": kind,
        "dist": f"zest-{name}",
        "module": module,
        "cls": "".join(part.capitalize() for part in name.split("-")),
    }
    code, test = (FILTER, FILTER_TEST) if kind == "filter" else (GENERATOR, GENERATOR_TEST)
    return {
        "pyproject.toml": PYPROJECT.format(**fields),
        "README.md": README.format(**fields, usage=USAGE[kind].format(**fields)),
        f"{module}/__init__.py": code.format(**fields),
        "tests/test_plugin.py": test.format(**fields),
    }


#: Names of zest's own: its distribution (zest-core, module zest_core), the example plugin
#: (examples/zest-echo) and zest.releaser (pip normalises its name to zest-releaser).
RESERVED = ("core", "echo", "releaser")


def _check_free(name: str, module: str) -> None:
    """Refuse a name whose distribution or module is zest's own or already installed: the
    new package would shadow it (``new core`` made a second ``zest_core``)."""
    import importlib.metadata
    import importlib.util

    dist = f"zest-{name}"
    taken = name in RESERVED
    if not taken:
        try:
            importlib.metadata.distribution(dist)
            taken = True
        except importlib.metadata.PackageNotFoundError:
            taken = importlib.util.find_spec(module) is not None
    if taken:
        raise ZestError(
            f"plugin name {name!r} would make the package {dist} (module {module}), a name"
            " zest or an installed package already uses; choose another name"
        )


def write_skeleton(name: str, kind: str, folder: Path | None = None) -> tuple[Path, list[str]]:
    """Write the skeleton into ``folder`` (default ``./zest-NAME``), which must be missing or
    empty; return the folder and the files written, relative to it."""
    files = skeleton(name, kind)
    folder = Path(folder) if folder is not None else Path(f"zest-{name.removeprefix('zest-')}")
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ZestError(f"{folder} already exists and is not an empty folder; choose another --dir")
    for relative, text in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder, list(files)


@click.command(name="new")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    default="filter",
    show_default=True,
    help="What the plugin provides.",
)
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write the package into (default: ./zest-NAME); missing or empty.",
)
def new(name, kind, folder):
    """Write a new plugin package for NAME, ready to install and test.

    It holds pyproject.toml with the zest entry point, README.md, a working module and
    tests/test_plugin.py (see docs/plugins/tutorial.md)."""
    folder, files = write_skeleton(name, kind, folder)
    click.echo(f"wrote {folder}/: {', '.join(files)}")
    click.echo(f'next: cd {folder} && pip install -e ".[test]" && python -m pytest')


@hookimpl
def register_commands(cli):
    cli.commands["plugins"].add_command(new)
