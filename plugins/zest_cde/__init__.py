"""zest plugin: ``cde``, the contextual document embedder the ZEST paper builds on.

Loads a CDE checkpoint (the jxm/cde-small-v1 or v2 layout: ``config.json`` with
``transductive_corpus_size`` and custom code exposing ``first_stage_model`` and
``second_stage_model``) from a local directory with transformers ``trust_remote_code``.
Stage 1 embeds exactly ``transductive_corpus_size`` context documents (oversampled with the
seed when the context is smaller); stage 2 embeds queries and documents given those vectors.
"""

import random
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from zest_core import ZestError, hookimpl
from zest_core.encoding import Encoder, State

QUERY_PREFIX = "search_query: "
DOCUMENT_PREFIX = "search_document: "


def sample_context(documents: Sequence[str], size: int, seed: int) -> list[str]:
    """Exactly ``size`` documents: a seeded sample, with replacement only when too few."""
    rng = random.Random(seed)
    if len(documents) >= size:
        return rng.sample(list(documents), size)
    return list(documents) + rng.choices(list(documents), k=size - len(documents))


class CDEEncoder(Encoder):
    name = "cde"
    defaults = {"batch_size": 32, "max_length": 512, "seed": 0, "tokenizer": "", "device": ""}
    vectors_use_context = True

    def __init__(self, model: str | None = None, **options: Any):
        super().__init__(model, **options)
        if not model:
            raise ZestError("the cde encoder needs --model DIR: a local copy of "
                            "jxm/cde-small-v1 or jxm/cde-small-v2")
        self.path = Path(model).expanduser()
        if not (self.path / "config.json").is_file():
            raise ZestError(f"--model {model}: no config.json there (not a CDE checkpoint)")
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.torch = torch
        self.device = self.options["device"] or ("cuda" if torch.cuda.is_available() else "cpu")
        self.net = AutoModel.from_pretrained(
            str(self.path), trust_remote_code=True, local_files_only=True).to(self.device).eval()
        size = getattr(self.net.config, "transductive_corpus_size", None)
        if not size:
            raise ZestError(f"--model {model}: config.json has no transductive_corpus_size")
        self.context_size = int(size)
        tokenizer = self.options["tokenizer"] or str(self.path)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(
                tokenizer, trust_remote_code=True, local_files_only=True)
        except (OSError, ValueError):
            raise ZestError(
                f"no tokenizer in {tokenizer}: pass -o tokenizer=DIR, a local copy of "
                "bert-base-uncased (cde-small-v1) or answerdotai/ModernBERT-base (v2)") from None
        self.dataset_embeddings = None

    @property
    def model_id(self) -> str:
        return str(self.path.resolve())

    def _batches(self, texts: list[str], prefix: str, stage, **extra) -> np.ndarray:
        size = self.options["batch_size"]
        out = []
        starts = range(0, len(texts), size)
        if self.progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=prefix.strip(" :"), unit="batch")
        for start in starts:
            batch = self.tokenizer([prefix + t for t in texts[start:start + size]],
                                   truncation=True, padding=True, return_tensors="pt",
                                   max_length=self.options["max_length"]).to(self.device)
            with self.torch.no_grad():
                out.append(stage(input_ids=batch["input_ids"],
                                 attention_mask=batch["attention_mask"], **extra))
        return self.torch.cat(out).float().cpu().numpy()

    def derive(self, documents: list[str]) -> State:
        """Stage 1 over exactly ``context_size`` documents (what the context cache stores)."""
        picked = sample_context(documents, self.context_size, self.options["seed"])
        return {"dataset_embeddings": self._batches(
            picked, DOCUMENT_PREFIX, self.net.first_stage_model)}

    def use(self, state: State | None) -> None:
        if state is None:
            raise ZestError("the cde encoder needs a context: --context real or a corpus version")
        self.dataset_embeddings = self.torch.from_numpy(state["dataset_embeddings"]).to(
            self.device)

    def _stage2(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        vectors = self._batches(list(texts), prefix, self.net.second_stage_model,
                                dataset_embeddings=self.dataset_embeddings)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._stage2(texts, QUERY_PREFIX)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._stage2(texts, DOCUMENT_PREFIX)


@hookimpl
def register_encoders(register):
    register(CDEEncoder)
