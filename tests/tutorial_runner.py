"""Runs the console examples of a docs page as a reader would, in a scratch folder.

A page's ```` ```console ```` blocks hold ``$ command`` lines, each followed by the output it
prints (stdout and stderr, as a terminal shows them). A fenced block right after an
``<!-- file: PATH -->`` comment is a file the reader saves: it is written to the scratch folder
before the next command runs. ``cd`` changes the folder for the commands after it.

``pip install [-q] -e DIR`` is not run: installing into the test's environment would change it
for every later test. The package at DIR is made importable instead exactly as an editable
install makes it: DIR goes on ``PYTHONPATH`` and a ``.dist-info`` folder holding the package's
name, version and entry points goes on it too, so ``zest`` finds the plugin through its
entry point. ``ZEST_LOAD_PLUGINS`` limits the loaded plugins to the shipped ones and those the
page installs: what else the environment holds does not show in the output.

``python tests/tutorial_runner.py docs/plugins/tutorial.md`` rewrites the page's outputs with
what the commands print now (review the diff); tests/test_tutorial.py compares them.
"""

import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
    "entry-points"
]["zest"]
BLOCK = re.compile(
    r"(?:<!-- file: (?P<file>\S+) -->\n+)?"
    r"^(?P<fence>`{3,})(?P<lang>\w*)\n(?P<body>.*?)^(?P=fence)$",
    re.M | re.S,
)


@dataclass
class Step:
    command: str
    shown: str  # the output the page shows
    start: int  # where the shown output starts and ends in the page text
    end: int


@dataclass
class Sandbox:
    folder: Path
    cwd: Path = field(init=False)
    paths: list[str] = field(default_factory=list)
    plugins: list[str] = field(default_factory=lambda: list(SHIPPED))

    def __post_init__(self):
        self.cwd = self.folder
        self.site = self.folder / ".site"
        self.site.mkdir(parents=True, exist_ok=True)

    def env(self) -> dict[str, str]:
        path = [str(ROOT), str(ROOT / "plugins"), str(self.site), *self.paths]
        return {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": os.pathsep.join(path),
            "ZEST_LOAD_PLUGINS": ",".join(self.plugins),
            "ZEST_DB": str(self.folder / "not-given.db"),  # never the checkout's store
            "ZEST": str(ROOT),  # the page's name for the reader's checkout of zest
            "COLUMNS": "80",
            "NO_COLOR": "1",
        }

    def run(self, command: str) -> str:
        words = shlex.split(os.path.expandvars(command.replace("$ZEST", str(ROOT))))
        if words[0] == "cd" and len(words) == 2:
            self.cwd = (self.cwd / words[1]).resolve()
            return ""
        if words[:2] == ["pip", "install"] and "-e" in words:
            return self.install(words[words.index("-e") + 1])
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=self.cwd,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=600,
        )
        return done.stdout

    def install(self, target: str) -> str:
        """What ``pip install -e target`` leaves behind, without pip (see the module doc)."""
        folder = (self.cwd / re.sub(r"\[.*\]$", "", target)).resolve()
        project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))
        meta = project["project"]
        if meta["name"] == "zest-core":
            return ""  # the zest under test is already importable
        points = meta.get("entry-points", {}).get("zest", {})
        info = self.site / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n"
        )
        lines = "".join(f"{name} = {module}\n" for name, module in points.items())
        (info / "entry_points.txt").write_text(f"[zest]\n{lines}")
        self.paths.append(str(folder))
        self.plugins.extend(points)
        return ""


def steps(text: str) -> list[tuple[str, object]]:
    """The page's files and console commands in order: ``("file", (path, body))`` and
    ``("step", Step)``."""
    found: list[tuple[str, object]] = []
    for block in BLOCK.finditer(text):
        if block["file"]:
            found.append(("file", (block["file"], block["body"])))
        elif block["lang"] == "console":
            start = block.start("body")
            lines = block["body"].splitlines(keepends=True)
            offset = start
            current: Step | None = None
            for line in lines:
                if line.startswith("$ "):
                    current = Step(line[2:].rstrip("\n"), "", offset + len(line), 0)
                    current.end = current.start
                    found.append(("step", current))
                elif current is not None:
                    current.shown += line
                    current.end += len(line)
                offset += len(line)
    return found


NUMBER = re.compile(r"\d+(?:\.\d+)*")


def normalise(output: str, sandbox: Sandbox | None = None) -> str:
    """What is compared: numbers (timings, counts, token rates: they depend on the machine
    and on what the model wrote) and runs of spaces (table padding) do not count."""
    if sandbox is not None:
        output = output.replace(str(sandbox.folder), "")
    lines = [re.sub(r" +", " ", NUMBER.sub("0", line)).rstrip() for line in output.splitlines()]
    return "\n".join(lines).strip("\n")


def play(page: Path, folder: Path) -> list[tuple[Step, str, Sandbox]]:
    """Run the page in ``folder``: each step with what it printed."""
    sandbox = Sandbox(folder)
    results = []
    for kind, item in steps(page.read_text(encoding="utf-8")):
        if kind == "file":
            path, body = item
            target = sandbox.cwd / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body, encoding="utf-8")
        else:
            results.append((item, sandbox.run(item.command), sandbox))
    return results


def update(page: Path) -> None:
    """Rewrite the page's console outputs with what the commands print now."""
    import tempfile

    text = page.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        results = play(page, Path(tmp))
        for step, output, sandbox in reversed(results):
            shown = output.replace(str(sandbox.folder) + "/", "").replace(str(sandbox.folder), ".")
            shown = "\n".join(line.rstrip() for line in shown.splitlines())
            text = text[: step.start] + (shown + "\n" if shown else "") + text[step.end :]
    page.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    for name in sys.argv[1:]:
        update(Path(name))
