"""What a plugin author relies on: options declared once and checked the same way for every
kind, the names ``zest_core`` exports, optional dependencies, the text helpers, one error for
two plugins claiming one name, and a core that loads no model runtime it does not use."""

import ast
import json
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT, SCIFACT_EXEMPLARS
from test_cli import zest

import zest_core
from zest_core import Option, ZestError
from zest_core.corpus.store import Store
from zest_core.deps import install_hint, require
from zest_core.plugin.manager import get_encoder, get_filter, get_generator, option_rows
from zest_core.text import jaccard, ngrams, title, words

PLUGINS = ROOT / "plugins"
SHIPPED = {path.name for path in PLUGINS.iterdir() if (path / "__init__.py").exists()}


def python(
    code: str, *args: str, site: Path | None = None, **env: str
) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with this checkout's packages (and ``site``) on
    the path."""
    path = os.pathsep.join([str(ROOT), str(PLUGINS), *([str(site)] if site else [])])
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env, "PYTHONPATH": path},
    )


# options ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "given,expected",
    [
        (
            {"top_p": "0.5", "top_k": "10", "mode": "chat"},
            {"top_p": 0.5, "top_k": 10, "mode": "chat"},
        ),
        ({"top_p": 1}, {"top_p": 1.0}),  # an int where a float is declared
        ({}, {"top_p": 0.95, "batch_size": 16, "mode": "auto"}),
    ],
)
def test_values_are_coerced_to_the_declared_types(given, expected):
    values = get_generator("llama-cpp").check_options(given)
    assert {key: values[key] for key in expected} == expected
    assert all(type(values[key]) is type(value) for key, value in expected.items())


@pytest.mark.parametrize(
    "given,message",
    [
        ({"top_p": "nan"}, "option top_p for 'llama-cpp' must be a finite number (got 'nan')"),
        ({"top_p": math.inf}, "option top_p for 'llama-cpp' must be a finite number (got inf)"),
        ({"top_p": "1.5"}, "option top_p for 'llama-cpp' must be between 0 and 1 (got '1.5')"),
        ({"batch_size": "0"}, "option batch_size for 'llama-cpp' must be at least 1 (got '0')"),
        ({"batch_size": 8.0}, "option batch_size for 'llama-cpp' must be a whole number (got 8.0)"),
        ({"batch_size": True}, "must be a whole number (got True)"),
        ({"batch_size": "8.5"}, "must be a whole number (got '8.5')"),
        ({"mode": 3}, "option mode for 'llama-cpp' must be a string (got 3)"),
        ({"mode": "poem"}, "option mode for 'llama-cpp' must be auto, completion or chat"),
        ({"colour": "red"}, "unknown option colour for 'llama-cpp' (options of this generator:"),
    ],
)
def test_bad_values_are_one_clear_error(given, message):
    with pytest.raises(ZestError) as raised:
        get_generator("llama-cpp").check_options(given)
    assert message in str(raised.value)


def test_the_same_checks_for_filters_and_encoders():
    assert get_filter("quality").check_options({"require_ending": "no"})["require_ending"] is False
    with pytest.raises(ZestError, match="require_ending for 'quality' must be true or false"):
        get_filter("quality").check_options({"require_ending": "maybe"})
    with pytest.raises(ZestError, match="threshold for 'near-dedup' must be a finite number"):
        get_filter("near-dedup")(threshold="nan")
    with pytest.raises(ZestError, match="batch_size for 'dense' must be at least 1"):
        get_encoder("dense")(batch_size=0)
    assert get_filter("quality")(min_words="3").options["min_words"] == 3


def test_every_shipped_option_has_help_and_a_default_that_passes_its_own_checks():
    rows = [row for row in option_rows() if row["plugin"] != "fake"]
    assert {row["kind"] for row in rows} == {"generator", "filter", "encoder"}
    assert len(rows) >= 40
    for row in rows:
        assert set(row) == {
            "kind",
            "plugin",
            "option",
            "type",
            "default",
            "choices",
            "min",
            "max",
            "help",
        }
        assert len(row["help"].split()) >= 3, row
        cls = {"generator": get_generator, "filter": get_filter, "encoder": get_encoder}[
            row["kind"]
        ](row["plugin"])
        spec = cls.option_specs()[row["option"]]
        assert spec.check(row["plugin"], row["option"], row["default"]) == row["default"]
        assert row["type"] == spec.type.__name__
    top_p = next(r for r in rows if (r["plugin"], r["option"]) == ("llama-cpp", "top_p"))
    assert (top_p["type"], top_p["default"], top_p["min"], top_p["max"]) == ("float", 0.95, 0, 1)
    mode = next(r for r in rows if (r["plugin"], r["option"]) == ("ollama", "mode"))
    assert mode["choices"] == ["completion", "chat"]


def test_plugins_options_lists_every_option_with_its_help():
    out = zest("plugins", "--options").output
    cells = [[cell.strip() for cell in line.split("│")[1:-1]] for line in out.splitlines()]
    for row in option_rows():
        line = next(c for c in cells if c and c[1:3] == [row["plugin"], row["option"]])
        assert line[0] == row["kind"] and line[3] == row["type"]
        assert line[6].startswith(row["help"][:20])
    assert "auto, completion or chat" in out and "between 0 and 1" in out


def test_an_option_type_outside_the_four_is_refused_at_declaration():
    with pytest.raises(TypeError, match="str, int, float or bool"):
        Option([], list, "a list")


def test_bad_options_on_the_command_line_fail_before_any_work(db_path, tmp_path):
    result = zest(
        "run", "--exemplars", SCIFACT_EXEMPLARS, "-o", "top_p=nan", "--db", db_path, ok=False
    )
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: option top_p for 'llama-cpp' must be a finite number (got 'nan')"
    )
    assert Store(db_path).versions() == []
    other = tmp_path / "eval.db"
    result = zest(
        "eval",
        "--dataset",
        tmp_path / "nowhere",
        "--encoder",
        "dense",
        "-o",
        "batch_size=0",
        "--db",
        other,
        ok=False,
    )
    assert result.exit_code == 1
    assert (
        result.output.strip() == "Error: option batch_size for 'dense' must be at least 1 (got '0')"
    )
    assert not other.exists()


def test_host_flag_only_for_generators_that_declare_it(db_path):
    result = zest(
        "run",
        "--exemplars",
        SCIFACT_EXEMPLARS,
        "--generator",
        "fake",
        "--host",
        "127.0.0.1:1",
        "--db",
        db_path,
        ok=False,
    )
    assert result.exit_code == 1 and "unknown option host for 'fake'" in result.output


# exports, dependencies, text helpers -------------------------------------------------------
def test_zest_core_exports_what_a_plugin_needs():
    from zest_core.plugin import encoder, filter, generation, hookspecs, strategy

    expected = {
        "Generator": generation.Generator,
        "Request": generation.Request,
        "Completion": generation.Completion,
        "AnchorStrategy": strategy.AnchorStrategy,
        "Filter": filter.Filter,
        "Drop": filter.Drop,
        "Encoder": encoder.Encoder,
        "hookimpl": hookspecs.hookimpl,
        "ZestError": ZestError,
        "Option": Option,
    }
    for name, value in expected.items():
        assert getattr(zest_core, name) is value and name in zest_core.__all__
    with pytest.raises(AttributeError):
        zest_core.Nope  # noqa: B018


def test_require_returns_the_module_or_names_the_extra(tmp_path, monkeypatch):
    assert require("json") is json
    monkeypatch.setitem(sys.modules, "ollama", None)  # as if not installed
    with pytest.raises(
        ZestError,
        match=r"^the Python package ollama is not installed; the x needs it: "
        + re.escape(install_hint("ollama"))
        + "$",
    ):
        require("ollama", extra="ollama", by="the x")
    with pytest.raises(ZestError, match=re.escape(install_hint("embed"))):
        require("no_such_module_anywhere", extra="embed")
    (tmp_path / "broken_mod.py").write_text("import no_such_dependency_of_it\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ZestError, match="broken_mod could not be imported .*no_such_dependency"):
        require("broken_mod", extra="embed")


def test_text_helpers():
    assert words("The T-cell's 2 receptors.") == ["the", "t", "cell", "s", "2", "receptors"]
    assert ngrams(["a", "b", "c"], 2) == [("a", "b"), ("b", "c")] and ngrams(["a"], 2) == []
    assert jaccard("Cells divide.", "cells DIVIDE fast") == 2 / 3 and jaccard("", "...") == 1.0
    assert title({"title": "T", "text": "x"}) == "T"
    assert title({"text": "First one. Second one."}) == "First one."
    assert title({"title": "", "text": " ".join(["w"] * 30)}) == " ".join(["w"] * 16)


# the plugin boundary -----------------------------------------------------------------------
def test_import_and_non_generating_commands_load_no_model_runtime(tmp_path):
    heavy = "('llama_cpp', 'torch', 'transformers', 'sentence_transformers')"
    done = python(
        f"import sys, zest_core; print([m for m in {heavy} + ('numpy',) if m in sys.modules])"
    )
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr
    from zest_core import Store

    Store(tmp_path / "z.db")  # listing only reads: the database must exist (G10)
    done = python(
        textwrap.dedent(f"""
        import sys
        from zest_core.cli import cli
        cli(sys.argv[1:], standalone_mode=False)
        print([m for m in {heavy} if m in sys.modules])"""),
        "corpora",
        "list",
        "--db",
        str(tmp_path / "z.db"),
    )
    assert done.returncode == 0, done.stderr
    assert "version" in done.stdout and done.stdout.strip().endswith("[]")


def test_no_plugin_imports_another():
    for path in PLUGINS.rglob("*.py"):
        own = path.relative_to(PLUGINS).parts[0]
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                top = name.split(".")[0]
                assert top not in SHIPPED - {own}, f"{path} imports {name}"


def test_an_installed_plugin_cannot_shadow_the_tests_fake_generator(tmp_path, monkeypatch):
    """The case that started this: a locally installed plugin with a generator named
    ``fake`` silently replaced the test suite's own, and a test failed on another plugin's
    options."""
    from zest_core.plugin import manager as plugins

    (tmp_path / "local_fake.py").write_text(
        textwrap.dedent("""
        from zest_core import Generator, hookimpl

        class Other(Generator):
            name = "fake"

        @hookimpl
        def register_generators(register):
            register(Other)
        """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import local_fake

    plugins.pm.register(local_fake, name="fake")
    try:
        with pytest.raises(
            ZestError,
            match="two plugins register the generator 'fake': plugin"
            " tests.fake_plugin and plugin fake",
        ):
            get_generator("fake")
    finally:
        plugins.pm.unregister(local_fake)
    assert get_generator("fake").__module__ == "fake_plugin"


DUP = """
from zest_core import Generator, hookimpl

class Dup(Generator):
    name = "dup"

@hookimpl
def register_generators(register):
    register(Dup)
"""


def fake_package(site: Path, dist: str, entry_point: str, module: str, code: str = DUP) -> None:
    """An installed distribution: a module and a dist-info with a ``zest`` entry point, as pip
    leaves them in site-packages."""
    (site / module).mkdir(parents=True)
    (site / module / "__init__.py").write_text(code)
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[zest]\n{entry_point} = {module}\n")


@pytest.mark.parametrize("same_entry_point", [False, True])
def test_two_packages_registering_one_name_is_an_error_naming_both(tmp_path, same_entry_point):
    site = tmp_path / "site"
    fake_package(site, "zest-dup-a", "dup" if same_entry_point else "dup_a", "zest_dup_a")
    fake_package(site, "zest-dup-b", "dup" if same_entry_point else "dup_b", "zest_dup_b")
    done = python("from zest_core.cli import main; main()", "plugins", site=site)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: two plugins register the generator 'dup': package")
    assert "zest-dup-a" in error and "zest-dup-b" in error and "uninstall one" in error
    if not same_entry_point:  # allow only one of them: no conflict, and it is listed
        alone = python(
            "from zest_core.cli import main; main()",
            "plugins",
            site=site,
            ZEST_LOAD_PLUGINS="llama_cpp,dup_a",
        )
        assert alone.returncode == 0, alone.stderr
        assert "dup, llama-cpp" in alone.stdout and "zest-dup-a" in alone.stdout


ZEST = "from zest_core.cli import main; main()"


def test_a_plugin_that_fails_to_import_is_one_error_line_naming_its_package(tmp_path):
    """``zest plugins`` fails with one line naming the package; a command that does not need
    the plugin warns in one line and works."""
    site = tmp_path / "site"
    fake_package(site, "zest-broken", "broken", "zest_broken", "import zest_no_such_module\n")
    listed = python(ZEST, "plugins", site=site)
    assert listed.returncode == 1 and "Traceback" not in listed.stderr
    assert listed.stderr.strip().splitlines() == [
        "Error: package zest-broken: its plugin broken (zest_broken) failed to import:"
        " ModuleNotFoundError: No module named 'zest_no_such_module'"
    ]
    Store(tmp_path / "zest.db")  # an empty store to list
    other = python(ZEST, "corpora", "list", "--db", str(tmp_path / "zest.db"), site=site)
    assert other.returncode == 0, other.stderr
    assert other.stderr.strip().splitlines() == [
        listed.stderr.strip().replace("Error: ", "Warning: ", 1)
    ]


def test_a_misspelt_hook_implementation_is_one_error_line_naming_the_plugin(tmp_path):
    """pluggy's check_pending after loading: ``register_generator`` (no s) would otherwise
    never be called, and the generator would be missing without a word."""
    site = tmp_path / "site"
    code = DUP.replace("def register_generators", "def register_generator")
    fake_package(site, "zest-typo", "typo", "zest_typo", code)
    listed = python(ZEST, "plugins", site=site)
    assert listed.returncode == 1 and "Traceback" not in listed.stderr
    [line] = listed.stderr.strip().splitlines()
    assert line.startswith(
        "Error: package zest-typo (plugin typo) implements 'register_generator', which is"
        " not a zest hook (the hooks: "
    )
    assert "register_generators" in line
    Store(tmp_path / "zest.db")
    other = python(ZEST, "corpora", "list", "--db", str(tmp_path / "zest.db"), site=site)
    assert other.returncode == 0 and other.stderr.startswith("Warning: package zest-typo")


def test_a_registration_knows_its_plugin_even_from_another_package(tmp_path):
    """A plugin may register a class defined in another package (a shared base library):
    the conflict names the plugins that registered it, not the class's module."""
    site = tmp_path / "site"
    (site / "shared_lib").mkdir(parents=True)
    (site / "shared_lib" / "__init__.py").write_text(DUP.split("@hookimpl")[0])
    uses = "from shared_lib import Dup\nfrom zest_core import hookimpl\n"
    for dist, module in (("zest-use-a", "zest_use_a"), ("zest-use-b", "zest_use_b")):
        other = "class Dup2(Dup):\n    pass\n" if module.endswith("b") else ""
        register = "Dup2" if other else "Dup"
        code = uses + other + "@hookimpl\ndef register_generators(register):\n"
        code += f"    register({register})\n"
        fake_package(site, dist, module.removeprefix("zest_"), module, code)
    done = python(ZEST, "plugins", site=site)
    assert done.returncode == 1, done.stdout
    error = done.stderr.strip().splitlines()[-1]
    assert error == (
        "Error: two plugins register the generator 'dup': package zest-use-a (plugin use_a)"
        " and package zest-use-b (plugin use_b); uninstall one of them"
    )
