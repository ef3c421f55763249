"""Loading a GGUF through llama.cpp so that it runs on every CPU.

On CPUs with AMX (Intel Sapphire Rapids and later: AWS m7i, GCP C4, most new cloud VMs)
llama.cpp places the weights it can in an AMX buffer, an *extra buffer type*, and its AMX
matrix product segfaults on the first decode of Gemma 3 270M (ggml-org/llama.cpp#20824,
closed as stale without a fix). Loading with ``use_extra_bufts`` off keeps the weights in
ordinary CPU buffers, and the same model decodes correctly. Building llama-cpp-python with
``-DGGML_AMX_INT8=OFF`` does not help: ``GGML_NATIVE`` still compiles the AMX path in.

Extra buffer types are also where llama.cpp repacks weights for faster CPU kernels
(``CPU_REPACK``), so they stay on where there is no AMX: ``docs/generators.md#extra_buffers``
has the measurement.

llama-cpp-python's ``Llama`` takes no argument for this field of ``llama_model_params``; it
fills the structure from ``llama_model_default_params()`` and passes it on, so ``load``
swaps that function for one that turns the field off while the model loads.
"""

import contextlib
import threading

AMX_FLAG = "AMX_INT8 = 1"
CHOICES = ("auto", "on", "off")
UPSTREAM_ISSUE = "https://github.com/ggml-org/llama.cpp/issues/20824"
_PATCH_LOCK = threading.Lock()  # the swap is process-wide: one load at a time


def system_info() -> str:
    """What llama.cpp reports of this CPU (``AVX2 = 1 | AMX_INT8 = 1 | ...``)."""
    import llama_cpp

    return llama_cpp.llama_print_system_info().decode("utf-8", errors="replace")


def has_amx(info: str | None = None) -> bool:
    return AMX_FLAG in (system_info() if info is None else info)


def resolve(setting: str, info: str | None = None) -> bool:
    """Whether extra buffer types are used: ``on``/``off`` as asked; ``auto``: off where
    llama.cpp reports AMX (the crash), on elsewhere (the CPU repacking they carry is faster)."""
    if setting not in CHOICES:
        raise ValueError(f"extra_buffers must be one of {', '.join(CHOICES)}, not {setting!r}")
    if setting == "auto":
        return not has_amx(info)
    return setting == "on"


def crash_hint(extra_buffers: bool, info: str | None = None) -> str | None:
    """The known cause of a native crash of llama.cpp as loaded, or None."""
    if extra_buffers and has_amx(info):
        return (
            "Known cause: llama.cpp's AMX matrix product crashes on this CPU"
            f" ({UPSTREAM_ISSUE}); run with -o extra_buffers=off (or auto)"
        )
    return None


@contextlib.contextmanager
def model_params(extra_buffers: bool):
    """While the block runs, ``Llama`` loads models with ``use_extra_bufts = extra_buffers``."""
    import llama_cpp.llama_cpp as low

    with _PATCH_LOCK:
        default = low.llama_model_default_params

        def params():
            p = default()
            p.use_extra_bufts = extra_buffers
            return p

        low.llama_model_default_params = params
        try:
            yield
        finally:
            low.llama_model_default_params = default


def load(path: str, extra_buffers: bool | str = "auto", **kwargs):
    """``llama_cpp.Llama(model_path=path, **kwargs)`` with extra buffer types as resolved."""
    import llama_cpp

    if isinstance(extra_buffers, str):
        extra_buffers = resolve(extra_buffers)
    with model_params(extra_buffers):
        return llama_cpp.Llama(model_path=str(path), **kwargs)
