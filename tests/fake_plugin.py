"""A deterministic generator for fast tests; registered only by the tests (never shipped).

Run as a script it is the ``zest`` CLI with this plugin added, for tests that need a real
process (SIGKILL, sockets).
"""

import random
import time

from zest_core import ZestError, hookimpl
from zest_core.generation import Completion, Generator

WORDS = ("protein kinase receptor neuron mitochondria signalling tumour immune cell gene "
         "expression plasma channel synapse membrane enzyme insulin cortex lipid hormone "
         "pathway mutation antibody stress vaccine").split()


class FakeGenerator(Generator):
    """Titles and documents drawn from a small vocabulary with the request's seed.

    ``delay`` sleeps per completion; ``fail_after`` raises after that many completions;
    ``constant`` returns the same title every time; ``empty`` returns blank documents."""

    name = "fake"
    defaults = {"delay": 0.0, "fail_after": -1, "constant": False, "empty": False}
    resume_safe_options = ("delay",)  # changes how fast, not what, it writes

    def __init__(self, model=None, **options):
        super().__init__(model, **options)
        self.calls = 0

    def complete(self, request):
        if self.options["fail_after"] >= 0 and self.calls >= self.options["fail_after"]:
            raise ZestError("fake generator failed as asked")
        self.calls += 1
        time.sleep(self.options["delay"])
        rng = random.Random(request.seed)
        if request.prompt.endswith("Title:"):
            text = " The same title" if self.options["constant"] else \
                " " + " ".join(rng.sample(WORDS, 4)).capitalize() + "\nmore"
        elif self.options["empty"]:
            text = "  "
        else:
            text = " " + " ".join(rng.choice(WORDS) for _ in range(30)) + "."
        tokens = len(text.split())
        return Completion(text=text, prompt_tokens=len(request.prompt.split()),
                          completion_tokens=tokens)


@hookimpl
def register_generators(register):
    register(FakeGenerator)


def register() -> None:
    from zest_core import plugins

    plugins.load_plugins()
    if plugins.pm.get_plugin("fake") is None:
        plugins.pm.register(__import__(__name__), name="fake")


if __name__ == "__main__":
    register()
    from zest_core.cli import main

    main()
