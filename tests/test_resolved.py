"""Resolved options: what a version ran with (defaults filled in, ``auto`` resolved) beside what
was asked for, and the reuse and comparisons that go by it, on real SQLite files. No model is
loaded: resolving is cheap by design (the runs that load Gemma are in test_trim.py)."""

from click.testing import CliRunner
from conftest import FAKE_RUN, SCIFACT_EXEMPLARS, clean_exit

from zest_core.cli import cli
from zest_core.corpus import runconfig
from zest_core.corpus.exemplars import read_exemplars
from zest_core.experiment.grid import GENERATION_DEFAULTS
from zest_core.experiment.planning import _run_config, find_run
from zest_llama_cpp import LlamaCppGenerator, auto_vocab

# Exemplars in German and Spanish, written for this test: vocab=auto must keep the full
# vocabulary for them (the trimmed one keeps the exemplars' tokens plus common English ones).
GERMAN = [
    {
        "title": "Schlafdauer und Blutzucker bei Jugendlichen",
        "text": "Wir haben bei zweihundert Schülerinnen und Schülern eine Woche lang die"
        " Schlafdauer gemessen und danach den Blutzucker bestimmt. Wer weniger als sechs"
        " Stunden schlief, hatte deutlich höhere Werte als die übrigen Teilnehmer.",
    },
    {
        "title": "Händehygiene im Krankenhaus",
        "text": "Nach der Einführung strengerer Regeln zur Händedesinfektion sank die Zahl"
        " der im Krankenhaus erworbenen Infektionen innerhalb eines Jahres um fast die"
        " Hälfte; die Kosten der Maßnahme waren gering.",
    },
    {
        "title": "Bewegung im Alter",
        "text": "Regelmäßige Spaziergänge verbessern bei älteren Menschen das Gedächtnis."
        " Die Teilnehmer unserer Studie gingen dreimal pro Woche eine halbe Stunde.",
    },
]
SPANISH = [
    {
        "title": "Fibra y cáncer colorrectal",
        "text": "Una dieta rica en fibra reduce el riesgo de cáncer colorrectal. Seguimos a"
        " treinta mil adultos durante diez años y los cereales integrales mostraron la"
        " asociación protectora más fuerte.",
    },
    {
        "title": "Vacunación contra la gripe",
        "text": "La vacuna contra la gripe disminuye las hospitalizaciones de las personas"
        " mayores, aunque su eficacia cambia cada año según los virus que circulan.",
    },
]


def test_vocab_auto_is_full_for_german_or_spanish_and_trimmed_for_english():
    english = read_exemplars([str(SCIFACT_EXEMPLARS)])
    for exemplars in (GERMAN, SPANISH, GERMAN + SPANISH):
        assert auto_vocab(exemplars)[0] == "full"
        assert LlamaCppGenerator.resolve_options({}, exemplars)["vocab"] == "full"
    assert auto_vocab(english)[0] == "trimmed"
    resolved = LlamaCppGenerator.resolve_options({}, english)
    assert resolved["vocab"] == "trimmed" and resolved["extra_buffers"] in ("on", "off")
    assert resolved["vocab_size"] == 32_000  # defaults filled in
    assert LlamaCppGenerator.resolve_options({"vocab": "full"}, english)["vocab"] == "full"
    assert auto_vocab([])[0] == "full"  # nothing to judge by: the vocabulary that fits all


def _stored_run(store, exemplars, options):
    """A run version as pipeline.start records it (config and resolved), without generating."""
    config = _run_config({**GENERATION_DEFAULTS, "options": options}, 0)
    resolved = runconfig.resolve_config(config, exemplars)
    version = store.create_version("c", kind="run", config=config, resolved=resolved)
    store.add_exemplars(version, exemplars)
    return version


def test_experiment_reuses_a_run_only_when_it_resolves_alike(store):
    english = read_exemplars([str(SCIFACT_EXEMPLARS)])

    def found(options, exemplars=english):
        config = {**GENERATION_DEFAULTS, "options": options}
        row = find_run(store, config, 0, exemplars)
        return row and row["id"]

    full = _stored_run(store, english, {"vocab": "full"})
    assert found({"vocab": "full"}) == full
    assert found({}) is None  # the default, auto, resolves to trimmed on English exemplars
    trimmed = _stored_run(store, english, {})
    assert found({}) == trimmed
    # Asked differently, resolving to the same values: the same run.
    assert found({"vocab": "trimmed", "vocab_size": 32_000, "top_p": 0.95}) == trimmed
    assert found({"vocab": "full", "n_batch": 512}) == full
    assert found({"vocab": "trimmed", "vocab_size": 16_000}) is None
    # On German exemplars auto resolves to full: an explicit full run is the same run.
    german = _stored_run(store, GERMAN, {"vocab": "full"})
    assert found({}, GERMAN) == german


def test_a_resumed_run_keeps_the_vocabulary_it_resolved_to():
    """An older version asked for nothing and ran with the full vocabulary (the default then):
    continuing it must not switch to what auto resolves to now; options that change only how
    it runs (extra_buffers, batch_size) are taken as asked and resolve anew."""
    config = _run_config({**GENERATION_DEFAULTS, "options": {"batch_size": 4}}, 0)
    resolved = {"options": {"vocab": "full", "extra_buffers": "on", "batch_size": 4}}
    assert runconfig.pinned_options(config, resolved) == {"vocab": "full", "batch_size": 4}


def zest(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    clean_exit(result)
    return result.stdout


def test_compare_shows_the_options_that_resolve_differently(db_path):
    zest(*FAKE_RUN, "--db", db_path)  # 1: the defaults
    zest(*FAKE_RUN, "--db", db_path, "-o", "delay=0")  # 2: a default, named
    zest(*FAKE_RUN, "--db", db_path, "-o", "delay=0.001")  # 3
    zest("filter", 3, "--with", "exact-dedup", "--db", db_path)  # 4: made as 3 was
    label = "options that differ"
    assert label not in zest("compare", 1, 2, "--db", db_path)
    line = next(
        line for line in zest("compare", 1, 3, 4, "--db", db_path).splitlines() if label in line
    )
    cells = [c.strip() for c in line.split("│")[1:-1]]
    assert cells[1:] == ["delay=0.0", "delay=0.001", "delay=0.001"]


def test_start_builds_the_generator_from_the_options_it_recorded(store, exemplars):
    """One path from a run request to the generator: ``start`` resolves the options once,
    records them, and builds the generator from that record, as ``resume`` does. A plugin
    whose ``auto`` resolves differently on every call (a coin toss) shows it: the generator
    gets exactly the recorded value, not a second toss and not ``auto``."""
    import random
    import types

    from fake_plugin import FakeGenerator

    from zest_core import Option, hookimpl
    from zest_core.corpus import pipeline
    from zest_core.plugin import manager as plugins

    class Coin(FakeGenerator):
        name = "coin"
        options = {**FakeGenerator.options, "side": Option("auto", str, "heads, tails or auto")}
        built: list[dict] = []

        def __init__(self, model=None, **options):
            super().__init__(model, **options)
            Coin.built.append(dict(self.options))

        @classmethod
        def resolve_options(cls, given, exemplars=()):
            options = cls.check_options(given)
            if options["side"] == "auto":
                options["side"] = random.choice(["heads", "tails"])  # not deterministic
            return options

    @hookimpl
    def register_generators(register):
        register(Coin)

    plugin = types.ModuleType("coin_plugin")
    plugin.register_generators = register_generators
    plugins.load_plugins()
    plugins.pm.register(plugin, name="tests.coin")
    try:
        for _ in range(4):  # a second toss would differ from the first half the time
            Coin.built.clear()
            version = pipeline.start(
                store, exemplars=exemplars, corpus="coin", generator="coin", n_anchors=2, n_docs=2
            )
            recorded = store.version(version)["resolved"]["options"]
            assert recorded["side"] in ("heads", "tails")
            assert [built["side"] for built in Coin.built] == [recorded["side"]]
    finally:
        plugins.pm.unregister(plugin)
