"""llama.cpp's extra buffer types: off where llama.cpp reports AMX (its AMX matrix product
segfaults on the default model: ggml-org/llama.cpp#20824), on elsewhere; the real model loads
and generates on the machine the tests run on, with the setting resolved for it."""

import pytest
from click.testing import CliRunner
from conftest import clean_exit

from zest_core import Request
from zest_core.cli import cli

llama_cpp = pytest.importorskip("llama_cpp")
from zest_core import default_gguf  # noqa: E402
from zest_llama_cpp import LlamaCppGenerator, native  # noqa: E402

# What llama.cpp 0.3.36 prints on a Sapphire Rapids VM and on an AMD EPYC one.
AMX_INFO = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX_VNNI = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 |"
    " BMI2 = 1 | AVX512 = 1 | AVX512_VBMI = 1 | AVX512_VNNI = 1 | AVX512_BF16 = 1 |"
    " AMX_INT8 = 1 | LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |"
)
NO_AMX_INFO = (
    "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 |"
    " LLAMAFILE = 1 | OPENMP = 1 | REPACK = 1 |"
)


@pytest.mark.parametrize(
    "setting, info, resolved",
    [
        ("auto", AMX_INFO, False),
        ("auto", NO_AMX_INFO, True),
        ("on", AMX_INFO, True),
        ("off", NO_AMX_INFO, False),
    ],
)
def test_extra_buffers_resolve(setting, info, resolved):
    assert native.resolve(setting, info) is resolved


def test_the_crash_hint_names_the_option_only_where_it_applies():
    hint = native.crash_hint(True, AMX_INFO)
    assert "-o extra_buffers=off" in hint and "20824" in hint
    assert native.crash_hint(False, AMX_INFO) is None
    assert native.crash_hint(True, NO_AMX_INFO) is None


@pytest.mark.model
@pytest.mark.parametrize("extra_buffers", [False, True])
def test_the_setting_reaches_llama_cpp_and_the_model_decodes(extra_buffers):
    if extra_buffers and native.has_amx():
        pytest.skip("extra buffers on this AMX CPU are the crash that extra_buffers=auto avoids")
    llm = native.load(default_gguf(), extra_buffers, n_ctx=256, n_threads=1, verbose=False)
    try:
        assert llm.model_params.use_extra_bufts is extra_buffers
        out = llm.create_completion("The mitochondria", max_tokens=8, temperature=0)
        assert out["usage"]["completion_tokens"] > 0 and out["choices"][0]["text"].strip()
    finally:
        llm.close()
    # the swap is undone: a plain load gets llama.cpp's own default again
    assert llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts is True


@pytest.mark.model
def test_the_default_generator_resolves_auto_for_this_cpu_and_records_it():
    gen = LlamaCppGenerator(batch_size=1)
    try:
        recorded = gen.provenance()
        assert recorded["extra_buffers"] is (not native.has_amx())
        assert recorded["amx"] is native.has_amx()
        assert recorded["options"]["extra_buffers"] == "auto"  # what was asked, beside it
        request = Request(key=0, prompt="Vitamin D and bone.", max_tokens=8, temperature=0, seed=0)
        done = gen.complete(request)
        assert done.completion_tokens > 0
    finally:
        gen.close()


def test_extra_buffers_is_listed_and_checked():
    out = clean_exit(CliRunner().invoke(cli, ["plugins", "--options"]))
    row = next(line for line in out.splitlines() if " extra_buffers " in line)
    assert "auto, on or off" in row and "'auto'" in row
    with pytest.raises(Exception, match="extra_buffers"):
        LlamaCppGenerator(extra_buffers="sometimes")
