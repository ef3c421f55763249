"""A deterministic generator for fast tests; registered only by the tests (never shipped).

Run as a script it is the ``zest`` CLI with this plugin added, for tests that need a real
process (SIGKILL, sockets).

Every request is recorded, so tests can check what the pipeline asked for: in this process in
``REQUESTS``; in a subprocess, one JSON line per request appended to the file named by
``$ZEST_FAKE_RECORD``. ``$ZEST_FAKE_HANG_AFTER=KIND:N`` (KIND ``anchor`` or ``document``) makes
the process block, after recording it, on its request of that kind number N+1, so a test can
kill it at a known point instead of racing a timer; ``$ZEST_FAKE_SEGFAULT_AFTER=KIND:N`` makes
it die there for real, from SIGSEGV in native code (a read of address 0), as a crashing
llama.cpp or plugin would. These are
environment variables rather than options because options are stored with a version and a
resume would inherit them.
"""

import ctypes
import json
import os
import random
import sys
import time
from dataclasses import asdict

from zest_core import Option, ZestError, hookimpl
from zest_core.plugin.generation import Completion, Generator

REQUESTS: list = []  # every Request this process's fake generators received, in order

WORDS = (
    "protein kinase receptor neuron mitochondria signalling tumour immune cell gene "
    "expression plasma channel synapse membrane enzyme insulin cortex lipid hormone "
    "pathway mutation antibody stress vaccine"
).split()


class FakeGenerator(Generator):
    """Titles and documents drawn from a small vocabulary with the request's seed.

    ``delay`` sleeps per completion; ``fail_after`` raises after that many completions;
    ``constant`` returns the same title every time; ``empty`` returns blank documents."""

    name = "fake"
    options = {
        "delay": Option(0.0, float, "Seconds to sleep per completion."),
        "fail_after": Option(-1, int, "Raise after this many completions (-1: never)."),
        "constant": Option(False, bool, "Return the same title every time."),
        "empty": Option(False, bool, "Return blank documents."),
        "unfinished": Option(
            False, bool, "End each document mid-sentence, after one full sentence."
        ),
        "bug_after": Option(
            -1, int, "Raise a plain RuntimeError (a plugin's bug) after this many (-1: never)."
        ),
    }
    resume_safe_options = ("delay",)  # changes how fast, not what, it writes

    def __init__(self, model=None, **options):
        super().__init__(model, **options)
        self.calls = 0

    def complete(self, request):
        _record(request)
        if self.options["fail_after"] >= 0 and self.calls >= self.options["fail_after"]:
            raise ZestError("fake generator failed as asked")
        if self.options["bug_after"] >= 0 and self.calls >= self.options["bug_after"]:
            raise RuntimeError("fake generator's own bug")
        self.calls += 1
        time.sleep(self.options["delay"])
        rng = random.Random(request.seed)
        if kind_of(request) == "anchor":
            text = (
                " The same title"
                if self.options["constant"]
                else " " + " ".join(rng.sample(WORDS, 4)).capitalize() + "\nmore"
            )
        elif self.options["empty"]:
            text = "  "
        else:
            text = " " + " ".join(rng.choice(WORDS) for _ in range(30)) + "."
            if self.options["unfinished"]:  # then a sentence cut short
                text += " The " + " ".join(rng.sample(WORDS, 3))
        tokens = len(text.split())
        return Completion(
            text=text, prompt_tokens=len(request.prompt.split()), completion_tokens=tokens
        )


def _record(request) -> None:
    REQUESTS.append(request)
    if path := os.environ.get("ZEST_FAKE_RECORD"):
        with open(path, "a") as f:  # one short write per line: whole lines survive a SIGKILL
            f.write(json.dumps(asdict(request)) + "\n")
    if _reached("ZEST_FAKE_HANG_AFTER", request):
        time.sleep(3600)  # the test kills the process here
    if _reached("ZEST_FAKE_SEGFAULT_AFTER", request):
        ctypes.string_at(0)  # SIGSEGV: no Python exception, the process dies


def _reached(variable: str, request) -> bool:
    """Whether ``request`` is past the ``KIND:N`` point that ``$variable`` names."""
    point = os.environ.get(variable)
    if not point:
        return False
    kind, n = point.split(":")
    return kind_of(request) == kind and sum(kind_of(r) == kind for r in REQUESTS) > int(n)


def kind_of(request) -> str:
    """``anchor`` or ``document``, told apart as the generator below tells them apart."""
    prompt = request["prompt"] if isinstance(request, dict) else request.prompt
    return "anchor" if prompt.endswith("Title:") else "document"


def recorded(path) -> list[dict]:
    """The requests a subprocess recorded in ``path`` (``$ZEST_FAKE_RECORD``)."""
    try:
        lines = open(path).read().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.endswith("}")]


@hookimpl
def register_generators(register):
    register(FakeGenerator)


def register() -> None:
    from zest_core.plugin import manager as plugins

    plugins.load_plugins()
    module = sys.modules[__name__]
    if not plugins.pm.is_registered(module):
        # Under a name no package installs: an installed plugin that also registers a
        # generator "fake" is then reported as a conflict instead of replacing this one.
        plugins.pm.register(module, name="tests.fake_plugin")


if __name__ == "__main__":
    register()
    from zest_core.cli import main

    main()
