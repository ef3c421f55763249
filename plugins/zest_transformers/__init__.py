"""transformers generator: a local causal LM run by Hugging Face transformers on CPU or GPU
(``pip install -c constraints.txt 'zest-core[transformers]'``).

``--model`` is a model directory (``config.json`` and weights, as ``save_pretrained`` writes
it) or a ``.gguf`` file, which transformers dequantizes on load (``accelerate`` and ``gguf``
needed). With no ``--model`` it loads the Gemma 3 270M GGUF of the default generator. Files
are only read locally; nothing is downloaded. Sampling is seeded per request, so a run is
reproducible on one device.
"""

from pathlib import Path

from zest_core import (
    TOP_K,
    TOP_P,
    Completion,
    Generator,
    Option,
    Request,
    ZestError,
    default_gguf,
    hookimpl,
    require,
)


@hookimpl
def register_generators(register):
    register(TransformersGenerator)


class TransformersGenerator(Generator):
    name = "transformers"
    options = {
        "device": Option(
            "auto",
            str,
            "Where the model runs: cpu, cuda, cuda:N or mps (auto: cuda when available, else cpu).",
        ),
        "dtype": Option(
            "auto",
            str,
            "Weight precision (auto: float32 on CPU, bfloat16 on a GPU).",
            choices=("auto", "float32", "bfloat16", "float16"),
        ),
        "top_p": TOP_P,
        "top_k": TOP_K,
    }

    def __init__(self, model: str | None = None, **options):
        super().__init__(model, **options)
        by = "the transformers generator"
        torch = require("torch", extra="transformers", by=by)
        transformers = require("transformers", extra="transformers", by=by)
        self.path = Path(model) if model else Path(default_gguf())
        if not self.path.exists():
            raise ZestError(f"model not found: {self.path} (give a model directory or a .gguf)")
        self.device = self.options["device"]
        if self.device == "auto":
            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = self.options["dtype"]
        if dtype == "auto":
            dtype = "float32" if self.device == "cpu" else "bfloat16"
        self.torch = torch
        self.transformers = transformers
        where = dict(pretrained_model_name_or_path=str(self.path), local_files_only=True)
        if self.path.is_file():
            where.update(
                pretrained_model_name_or_path=str(self.path.parent), gguf_file=self.path.name
            )
        try:
            self.tokenizer = transformers.AutoTokenizer.from_pretrained(**where)
            self.lm = transformers.AutoModelForCausalLM.from_pretrained(
                **where, dtype=getattr(torch, dtype)
            ).to(self.device)
        except (OSError, ValueError, RuntimeError, ImportError) as e:
            raise ZestError(f"transformers could not load {self.path}: {e}") from None
        self.lm.eval()

    @property
    def model_id(self) -> str:
        return self.path.name

    def complete(self, request: Request) -> Completion:
        inputs = self.tokenizer(request.prompt, return_tensors="pt").to(self.device)
        n_prompt = inputs["input_ids"].shape[1]
        sample = request.temperature > 0
        self.torch.manual_seed(request.seed)  # CPU and every GPU; leaves `random` alone
        with self.torch.inference_mode():
            output = self.lm.generate(
                **inputs,
                max_new_tokens=request.max_tokens,
                do_sample=sample,
                temperature=request.temperature if sample else None,
                top_p=self.options["top_p"] if sample else None,
                top_k=self.options["top_k"] if sample else None,
                stop_strings=list(request.stop) or None,
                tokenizer=self.tokenizer,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
            )
        new = output[0, n_prompt:].tolist()
        ends = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id} - {None}
        ended = bool(new) and new[-1] in ends
        while new and new[-1] in ends:
            new.pop()
        text = self.tokenizer.decode(new, skip_special_tokens=True)
        cut = min((i for i in (text.find(s) for s in request.stop) if i >= 0), default=-1)
        if cut >= 0:  # generation stops after the token that completes a stop string
            text = text[:cut]
        full = cut < 0 and not ended and len(new) >= request.max_tokens
        finish = "length" if full else "stop"
        return Completion(
            text=text, prompt_tokens=n_prompt, completion_tokens=len(new), finish_reason=finish
        )

    def provenance(self) -> dict:
        return {
            **super().provenance(),
            "path": str(self.path),
            "device": self.device,
            "transformers": self.transformers.__version__,
        }

    def close(self) -> None:
        del self.lm
