"""The shape of the code: one public namespace, plugins that use only it, layers that point
one way, and a name that installs beside zest.releaser (issue 21)."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import zest_core

ROOT = Path(__file__).resolve().parent.parent


def _python_files(*folders: str) -> list[Path]:
    # Source files only: `pip install ./examples/zest-echo` builds in the tree, leaving
    # copies under build/ (and egg-info) that are not the package's source.
    return sorted(
        p
        for folder in folders
        for p in (ROOT / folder).rglob("*.py")
        if not {"build", "dist"} & set(p.relative_to(ROOT).parts)
    )


def _imports(path: Path) -> list[tuple[int, str, list[str]]]:
    """``(line, module, names)`` of every import in ``path``, at any depth (an import inside a
    function is as much a dependency as one at the top); relative imports made absolute."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([module] if module else []))
            found.append((node.lineno, module, [alias.name for alias in node.names]))
    return found


# one public namespace ----------------------------------------------------------------------
def test_every_public_name_resolves():
    for name in zest_core.__all__:
        assert getattr(zest_core, name) is not None, name
    assert set(zest_core._LAZY) <= set(zest_core.__all__)


def test_plugins_and_the_example_import_only_the_public_api():
    """A plugin written against ``from zest_core import X`` keeps working while the core's
    modules move; anything it needs that is missing belongs in ``zest_core.__all__``."""
    public = set(zest_core.__all__)
    wrong = []
    for path in _python_files("plugins", "examples"):
        for line, module, names in _imports(path):
            where = f"{path.relative_to(ROOT)}:{line}"
            if module.startswith("zest_core."):
                wrong.append(f"{where} imports {module}")
            elif module == "zest_core" and names:
                wrong += [f"{where} imports {n}" for n in names if n not in public]
    assert not wrong, "not in zest_core.__all__:\n" + "\n".join(wrong)


# layers ------------------------------------------------------------------------------------
# Lower layers first: a module may import from its own layer and the ones before it, never from
# a later one. The top-level helpers (errors, console, text, ...) come first.
LAYERS = [
    ("shared", ["zest_core.errors", "zest_core.console", "zest_core.text", "zest_core.deps",
                "zest_core.textfiles", "zest_core.supervisor", "zest_core.outputs",
                "zest_core.documents"]),
    ("plugin", ["zest_core.plugin"]),
    ("corpus", ["zest_core.corpus"]),
    ("contexts", ["zest_core.contexts"]),
    ("adaptation", ["zest_core.adaptation"]),
    ("experiment", ["zest_core.experiment"]),
    ("search", ["zest_core.search"]),
    ("commands", ["zest_core.commands"]),
    ("cli", ["zest_core.cli", "zest_core.entry"]),
]  # fmt: skip

# Imports that run against the layers, each with its reason.
EXCEPTIONS = {
    # The supervisor is the parent process around every command; after a native crash of
    # the child it marks the versions the child leased as failed, in the store.
    ("zest_core.supervisor", "zest_core.corpus.store"),
    # load_encoder(adapted=ID) names a model in the registry of models zest adapt made; the
    # registry reads only the store (corpus), so this adds no cycle (test_no_import_cycle).
    ("zest_core.contexts.api", "zest_core.adaptation.registry"),
}


def _layer(module: str) -> int | None:
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    return None


def test_every_core_module_has_a_layer():
    unplaced = []
    for path in _python_files("zest_core"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if module != "zest_core.__init__" and _layer(module) is None:
            unplaced.append(module)
    assert not unplaced, f"add these to LAYERS: {unplaced}"


def test_layers_point_one_way():
    """plugin <- corpus <- evaluation <- search <- commands <- cli: the plugin contract knows
    nothing of the store, the store nothing of evaluation, and so on up."""
    wrong = []
    for path in _python_files("zest_core"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        own = _layer(module)
        if own is None:
            continue  # zest_core/__init__.py: the public namespace re-exports every layer
        for line, target, names in _imports(path):
            targets = [target] if target != "zest_core" else [f"zest_core.{n}" for n in names]
            for t in targets:
                layer = _layer(t)
                if layer is not None and layer > own and (module, t) not in EXCEPTIONS:
                    wrong.append(
                        f"{path.relative_to(ROOT)}:{line}: {LAYERS[own][0]} imports"
                        f" {t} ({LAYERS[layer][0]})"
                    )
    assert not wrong, "\n".join(wrong)


def _core_modules() -> dict[str, Path]:
    return {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
        for p in _python_files("zest_core")
    }


def _import_graph() -> dict[str, set[str]]:
    """Module -> the core modules it imports, at any depth (inside functions too). ``from
    package import name`` counts as importing ``package.name`` when that is a module; the
    public namespace ``zest_core`` itself is left out (it re-exports every layer lazily)."""
    modules = _core_modules()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges = set()
        for _, target, names in _imports(path):
            for candidate in [f"{target}.{n}" for n in names] + [target]:
                if candidate in modules and candidate != "zest_core":
                    edges.add(candidate)
                    break
        graph[module] = edges - {module}
    return graph


# Import cycles, each with its reason.
CYCLES: dict[tuple[str, ...], str] = {
    # The store tells the supervising parent which version it leased (supervisor.note); after
    # a native crash of the child the parent, a separate process that imported nothing else,
    # marks that version failed in the store (the layer exception above).
    ("zest_core.corpus.store", "zest_core.supervisor"): "crash recording across processes",
}


def test_no_import_cycle():
    """No module reaches itself through imports, counting those inside functions: an import
    put in a function to break a cycle hides the cycle, it does not remove it."""
    graph = _import_graph()
    cycles, done, stack = [], set(), []

    def visit(module: str) -> None:
        stack.append(module)
        for target in sorted(graph[module]):
            if target in stack:
                cycle = tuple(stack[stack.index(target) :])
                if not any(set(cycle) == set(known) for known in CYCLES):
                    cycles.append(" -> ".join(cycle + (target,)))
            elif target not in done:
                visit(target)
        stack.pop()
        done.add(module)

    for module in sorted(graph):
        if module not in done:
            visit(module)
    assert not cycles, "\n".join(cycles)


def test_no_module_is_long_without_saying_why():
    """About 400 lines is where a module stops being read in one sitting; a longer one says
    at its top why it is one module (a line starting "One module:")."""
    long = []
    for path in _python_files("zest_core"):
        text = path.read_text(encoding="utf-8")
        if text.count("\n") > 420 and "One module:" not in text[:3000]:
            long.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert not long, long


# Only these modules run SQL on ``store.db``; everywhere else asks ``Store`` (or a cache) by name,
# so the store's transactions and schema stay in one place.
# zest browse's pages read the store through Datasette's read-only connections, as its
# canned queries do: that is what Datasette is for.
SQL_MODULES = {"zest_core/corpus/store.py", "zest_core/corpus/migrations.py",
               "zest_core/corpus/caches.py", "zest_core/commands/browse_pages.py"}  # fmt: skip


def test_raw_sql_on_the_store_stays_in_the_corpus_layer():
    """``.db.execute``, ``execute_returning_dicts`` and ``.db[table]`` only where SQL lives."""
    raw = []
    for path in _python_files("zest_core", "plugins", "examples"):
        name = path.relative_to(ROOT).as_posix()
        if name in SQL_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            attr = isinstance(node, ast.Attribute)
            on_db = isinstance(node, ast.Attribute | ast.Subscript) and _is_db(node.value)
            if (attr and node.attr == "execute_returning_dicts") or (
                on_db and (not attr or node.attr in ("execute", "executescript", "query"))
            ):
                raw.append(f"{name}:{node.lineno} {ast.unparse(node)}")
    assert not raw, "raw SQL outside corpus/store.py, migrations.py, caches.py:\n" + "\n".join(raw)


def _is_db(node: ast.AST) -> bool:
    # ``x.db`` (store.db, self.store.db) or a bare ``db``
    return (isinstance(node, ast.Attribute) and node.attr == "db") or (
        isinstance(node, ast.Name) and node.id == "db"
    )


def test_the_core_does_not_probe_plugin_objects():
    """What the core calls on a plugin is declared on its base class (with a default where
    it is optional), so the core calls it instead of asking ``hasattr``."""
    probes = []
    for path in _python_files(
        "zest_core/plugin",
        "zest_core/corpus",
        "zest_core/contexts",
        "zest_core/adaptation",
        "zest_core/experiment",
    ):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            call = isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            if call and node.func.id in ("getattr", "hasattr"):
                probes.append(f"{path.relative_to(ROOT)}:{node.lineno} {ast.unparse(node)}")
    # mteb's prompt_type is an enum or a string (not a plugin), pluggy's hook relay by name
    allowed = ("getattr(prompt_type, 'value', prompt_type)", "getattr(pm.hook, hook_name)")
    assert [p for p in probes if not p.endswith(allowed)] == []


# the name ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_installs_beside_zest_releaser(tmp_path):
    """zest.releaser owns the ``zest`` namespace package; ``zest_core`` must import beside it
    (and ``import zest`` must stay theirs). Needs PyPI for zest.releaser."""
    venv = tmp_path / "venv"
    # Without a pip of its own, the venv runs the system's pip and setuptools (through
    # --system-site-packages): the one in a fresh venv is too old to read license = "...".
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
        check=True,
    )
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def pip(*args: str) -> None:
        done = subprocess.run(
            [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if (
            done.returncode
            and "zest.releaser" in args
            and "No matching distribution" in (done.stderr)
        ):
            pytest.skip("zest.releaser is not reachable on the package index")
        assert done.returncode == 0, done.stderr

    pip("zest.releaser")
    pip("--no-deps", "--no-build-isolation", "-e", ".")
    check = (
        "import zest, zest_core, zest.releaser; "
        "assert callable(zest_core.load_encoder) and zest_core.Generator; "
        "assert not hasattr(zest, 'load_encoder'); "
        "print(zest_core.__file__)"
    )
    done = subprocess.run(
        [python, "-c", check], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(ROOT)


def test_every_public_name_is_documented():
    """Each name in ``zest_core.__all__`` appears (in backticks) on the plugin or Python API
    pages, so nothing public is undocumented."""
    pages = (ROOT / "docs/plugins/index.md").read_text() + (ROOT / "docs/python-api.md").read_text()
    missing = [n for n in zest_core.__all__ if n != "__version__" and f"`{n}" not in pages]
    assert not missing, missing
