"""The transformers generator on the real Gemma 3 270M: the GGUF of the default generator,
dequantized by transformers, and the same weights saved as a model directory."""

import pytest
from click.testing import CliRunner
from conftest import SCIFACT_EXEMPLARS
from ollama_server import small_templates

from zest_core import ZestError
from zest_core.cli import cli
from zest_core.corpus.store import Store
from zest_core.plugin.generation import Request

pytestmark = [pytest.mark.model, pytest.mark.slow]

PROMPT = "Document 1\nTitle: Vitamin D and bone density\nText:"


@pytest.fixture(scope="module")
def gen():
    from zest_transformers import TransformersGenerator

    generator = TransformersGenerator()  # the GGUF: the load takes a minute or two on a CPU
    yield generator
    generator.close()


def test_gguf_sampling_is_seeded_and_counted(gen):
    request = Request(key=0, prompt=PROMPT, max_tokens=6, temperature=0.8, seed=1)
    first = gen.complete(request)
    assert gen.complete(request) == first
    assert first.prompt_tokens == len(gen.tokenizer(PROMPT)["input_ids"])
    assert first.completion_tokens == 6 and first.finish_reason == "length"
    assert first.text.strip()
    assert gen.provenance()["path"].endswith(".gguf")


def test_auto_device_is_the_one_torch_offers(gen):
    import torch

    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert gen.provenance()["device"] == expected
    assert next(gen.lm.parameters()).device.type == expected  # the weights are really there


def test_stop_string_ends_the_completion(gen):
    greedy = Request(
        key=0, prompt="1, 2, 3, 4,", max_tokens=12, temperature=0.0, seed=0, stop=(" 6",)
    )
    out = gen.complete(greedy)
    assert out.finish_reason == "stop" and out.completion_tokens < 12
    assert " 6" not in out.text and out.text.strip()


def test_tiny_run_from_a_model_directory(gen, tmp_path):
    """The weights saved as a directory (as ``save_pretrained`` lays it out) run a version."""
    from safetensors.torch import save_model

    model_dir = tmp_path / "gemma3-270m"
    gen.lm.config.save_pretrained(model_dir)
    save_model(gen.lm, str(model_dir / "model.safetensors"))
    gen.tokenizer.save_pretrained(model_dir)
    db = tmp_path / "zest.db"
    result = CliRunner().invoke(
        cli,
        [
            str(a)
            for a in (
                "run",
                "--exemplars",
                SCIFACT_EXEMPLARS,
                "--k",
                2,
                "--generator",
                "transformers",
                "--model",
                model_dir,
                "--templates",
                small_templates(tmp_path),
                "--anchors",
                1,
                "--docs",
                2,
                "--db",
                db,
            )
        ],
    )
    assert result.exit_code == 0, result.output
    store = Store(db)
    version = store.version(1)
    assert version["status"] == "complete" and version["model"] == "gemma3-270m"
    assert version["provenance"]["path"] == str(model_dir)
    docs = store.documents(1)
    assert len(docs) == 2 and all(d["text"] and d["token_count"] > 0 for d in docs)


def test_missing_model(tmp_path):
    from zest_transformers import TransformersGenerator

    with pytest.raises(ZestError, match="model not found"):
        TransformersGenerator(str(tmp_path / "nothing"))
    with pytest.raises(ZestError, match="transformers could not load"):
        TransformersGenerator(str(tmp_path))  # a directory without a model
