"""zest plugin: ``cde``, the contextual document embedder the ZEST paper builds on.

Loads a CDE checkpoint (the jxm/cde-small-v1 or v2 layout: ``config.json`` with
``transductive_corpus_size`` and custom code exposing ``first_stage_model`` and
``second_stage_model``) from a local directory with transformers ``trust_remote_code``.
Stage 1 embeds exactly ``transductive_corpus_size`` context documents (oversampled with the
seed when the context is smaller); stage 2 embeds queries and documents given those vectors.
"""

import hashlib
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zest_core import Encoder, Option, State, ZestError, hookimpl, require

QUERY_PREFIX = "search_query: "
DOCUMENT_PREFIX = "search_document: "
# Checkpoint files up to this size are fingerprinted by content, larger ones (the weights) by
# size and modification time, so swapping checkpoints in one folder changes every cache key.
CONTENT_HASHED = 8 << 20


def sample_context(documents: Sequence[str], size: int, seed: int) -> list[str]:
    """Exactly ``size`` documents: a seeded sample, with replacement only when too few."""
    rng = random.Random(seed)
    if len(documents) >= size:
        return rng.sample(list(documents), size)
    return list(documents) + rng.choices(list(documents), k=size - len(documents))


def checkpoint_fingerprint(path: Path) -> str:
    """sha256 over a checkpoint folder: config and modelling code by content, weights by name,
    size and mtime (hidden folders such as a download cache are skipped)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path)
        if any(part.startswith(".") or part == "__pycache__" for part in relative.parts):
            continue
        stat = file.stat()
        digest.update(relative.as_posix().encode() + b"\0")
        if stat.st_size <= CONTENT_HASHED:
            digest.update(hashlib.sha256(file.read_bytes()).digest())
        else:
            digest.update(f"{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def tokenizer_fingerprint(tokenizer) -> str:
    """sha256 of what decides the token ids: a fast tokenizer's whole definition, else its
    class, vocabulary and special tokens."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    data = (
        backend.to_str()
        if backend is not None
        else json.dumps(
            [
                type(tokenizer).__name__,
                sorted(tokenizer.get_vocab().items()),
                tokenizer.special_tokens_map,
            ],
            default=str,
        )
    )
    return hashlib.sha256(data.encode()).hexdigest()


class CDEEncoder(Encoder):
    name = "cde"
    options = {
        "batch_size": Option(32, int, "Texts embedded per forward pass, in both stages.", min=1),
        "max_length": Option(
            512,
            int,
            "Tokens of each text the model reads, prefix included; longer text is cut.",
            min=4,
        ),
        "seed": Option(
            0,
            int,
            "Seed of the context sample: which documents (repeated when"
            " too few) fill the checkpoint's transductive_corpus_size slots.",
        ),
        "tokenizer": Option(
            "",
            str,
            "Tokenizer folder or cached Hugging Face name (empty: the"
            " checkpoint's config.embedder, else the checkpoint folder's own);"
            " one whose vocabulary differs from the embedder's is refused.",
        ),
        "device": Option(
            "",
            str,
            "Where the model runs: cpu, cuda, cuda:N or mps (empty:"
            " cuda when available, else cpu).",
        ),
    }
    vectors_use_context = True

    def __init__(self, model: str | None = None, **options: Any):
        super().__init__(model, **options)
        if not model:
            raise ZestError(
                "the cde encoder needs --model DIR: a local copy of "
                "jxm/cde-small-v1 or jxm/cde-small-v2"
            )
        self.path = Path(model).expanduser()
        config = self._config()
        self.context_size = int(config["transductive_corpus_size"])
        by = "the cde encoder"
        torch = require("torch", extra="transformers", by=by)
        transformers = require("transformers", extra="transformers", by=by)
        self.torch = torch
        self.tokenizer, self.tokenizer_source = self._tokenizer(
            transformers, config.get("embedder")
        )
        self.net = self._network(transformers)
        self.device = self.options["device"] or ("cuda" if torch.cuda.is_available() else "cpu")
        self.net = self.net.to(self.device).eval()
        self.fingerprints = {
            "checkpoint_sha256": checkpoint_fingerprint(self.path),
            "tokenizer_sha256": tokenizer_fingerprint(self.tokenizer),
        }
        self.dataset_embeddings = None

    def _config(self) -> dict:
        where = f"--model {self.model}"
        try:
            config = json.loads((self.path / "config.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ZestError(f"{where}: no config.json there (not a CDE checkpoint)") from None
        except (ValueError, OSError) as e:
            raise ZestError(f"{where}: config.json cannot be read: {e}") from None
        if not isinstance(config, dict) or not config.get("transductive_corpus_size"):
            raise ZestError(
                f"{where}: config.json has no transductive_corpus_size (not a CDE checkpoint)"
            )
        return config

    def _tokenizer(self, transformers, embedder: str | None):
        """The tokenizer and where it came from; refused when its vocabulary differs from that
        of the embedder the checkpoint names (``config.embedder``)."""

        def load(source: str):
            try:
                return transformers.AutoTokenizer.from_pretrained(
                    source, trust_remote_code=True, local_files_only=True
                )
            except (OSError, ValueError):
                return None

        given = self.options["tokenizer"]
        reference = load(embedder) if embedder else None
        if not given:
            if reference is not None:
                return reference, embedder
            own = load(str(self.path))
            if own is None:
                raise ZestError(
                    f"no tokenizer for {self.path}: its embedder"
                    f" {embedder or '(config.json names none)'} is not available locally and the"
                    " folder has none; pass -o tokenizer=DIR with a local copy of it"
                    " (cde-small-v1: bert-base-uncased, v2: answerdotai/ModernBERT-base)"
                )
            return own, str(self.path)
        tokenizer = load(given)
        if tokenizer is None:
            raise ZestError(
                f"-o tokenizer={given}: no tokenizer there (a folder with"
                " tokenizer files, or a Hugging Face name in the local cache)"
            )
        if reference is not None:
            mismatch = reference.get_vocab() != tokenizer.get_vocab()
        else:  # nothing to compare with: only a cached name other than the embedder's is wrong
            mismatch = bool(embedder) and given != embedder and not Path(given).exists()
        if mismatch:
            raise ZestError(
                f"-o tokenizer={given} does not match the checkpoint: its"
                f" config.json names the embedder {embedder}, whose vocabulary"
                " differs; leave -o tokenizer out or give that tokenizer"
            )
        return tokenizer, given

    def _network(self, transformers):
        try:
            net = transformers.AutoModel.from_pretrained(
                str(self.path), trust_remote_code=True, local_files_only=True
            )
        # The checkpoint's own modelling code runs here, so any exception means a broken
        # checkpoint (missing module, truncated weights, wrong config), not a zest bug.
        except Exception as e:
            raise ZestError(
                f"--model {self.model}: transformers could not load the checkpoint:"
                f" {type(e).__name__}: {e}"
            ) from None
        missing = [
            stage
            for stage in ("first_stage_model", "second_stage_model")
            if not hasattr(net, stage)
        ]
        if missing:
            raise ZestError(
                f"--model {self.model}: the loaded model has no"
                f" {' or '.join(missing)} (not a two-stage CDE checkpoint)"
            )
        return net

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), **self.fingerprints}

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
            batch = self.tokenizer(
                [prefix + t for t in texts[start : start + size]],
                truncation=True,
                padding=True,
                return_tensors="pt",
                max_length=self.options["max_length"],
            ).to(self.device)
            with self.torch.no_grad():
                out.append(
                    stage(
                        input_ids=batch["input_ids"],
                        attention_mask=batch["attention_mask"],
                        **extra,
                    )
                )
        return self.torch.cat(out).float().cpu().numpy()

    def derive(self, documents: list[str]) -> State:
        """Stage 1 over exactly ``context_size`` documents (what the context cache stores)."""
        picked = sample_context(documents, self.context_size, self.options["seed"])
        return {
            "dataset_embeddings": self._batches(picked, DOCUMENT_PREFIX, self.net.first_stage_model)
        }

    def use(self, state: State | None) -> None:
        if state is None:
            raise ZestError("the cde encoder needs a context: --context real or a corpus version")
        self.dataset_embeddings = self.torch.from_numpy(state["dataset_embeddings"]).to(self.device)

    def _stage2(self, texts: Sequence[str], prefix: str) -> np.ndarray:
        vectors = self._batches(
            list(texts),
            prefix,
            self.net.second_stage_model,
            dataset_embeddings=self.dataset_embeddings,
        )
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._stage2(texts, QUERY_PREFIX)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._stage2(texts, DOCUMENT_PREFIX)


@hookimpl
def register_encoders(register):
    register(CDEEncoder)
