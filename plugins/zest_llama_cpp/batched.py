"""Continuous batching over llama.cpp's low-level API: several documents per decode step.

One sequential step reads every weight of the model to produce one token; a llama_decode call
holding one token of each of N documents reads them once for N tokens, so on a CPU the step costs
little more than a single-token one. The exemplar prefix that every document prompt shares is
evaluated once into sequence 0 and its KV cells are shared (``llama_memory_seq_cp``) with each
slot's sequence; a slot that finishes is refilled with the next request at once, and takes the
cells of the rest of its prompt (its anchor) from a running slot with the same prompt when there
is one, so each anchor's tokens are evaluated about once per decoder rather than once a document.

``run_parallel`` runs several such decoders side by side, one thread each.

Sampling mirrors ``Llama.create_completion`` (same sampler chain and defaults, each sequence with
its own seeded chain), so greedy output matches sequential output up to the small numeric
differences of batched matrix products.
"""

import itertools
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import llama_cpp
from llama_cpp._utils import suppress_stdout_stderr

from zest_core import Completion, LoopCheck, Request, ZestError, last_sentence_end, starts_sentence

PREFIX_SEQ = 0
WORKER_THREAD = "zest-batched-worker"  # run_parallel's thread names, prefixed by the index
# llama-cpp-python's create_completion defaults, used for every sequence.
SAMPLING_DEFAULTS = {
    "top_k": 40,
    "top_p": 0.95,
    "min_p": 0.05,
    "typical_p": 1.0,
    "repeat_penalty": 1.0,
    "frequency_penalty": 0.0,
    "presence_penalty": 0.0,
}


class BatchingUnavailable(Exception):
    """llama.cpp refused a multi-sequence context for this model or build."""


@dataclass
class Timings:
    """Where the time of a run went: the shared prefix (once), the rest of each prompt,
    generated tokens, sampling."""

    prefix_s: float = 0.0
    prompt_s: float = 0.0
    decode_s: float = 0.0
    sample_s: float = 0.0
    prefix_tokens: int = 0
    prompt_tokens: int = 0  # prompt tokens after the shared prefix
    reused_tokens: int = 0  # prompt tokens after the shared prefix taken from a running sibling
    generated_tokens: int = 0
    steps: int = 0  # llama_decode calls after the shared prefix


@dataclass
class _Slot:
    seq_id: int
    request: Request
    prompt_tokens: list[int]
    max_tokens: int
    sampler: Any
    pos: int  # position of the next token to evaluate
    pending: list[int]  # tokens to evaluate before the next sample
    tokens: list[int] = field(default_factory=list)
    text: bytes = b""
    finish_reason: str = "length"
    done: bool = False
    loop: LoopCheck | None = None


def context_params(n_ctx: int, n_parallel: int, n_batch: int, n_threads: int, flash_attn: bool):
    """llama.cpp context parameters for ``n_parallel`` sequences of ``n_ctx`` tokens each, plus
    the shared prefix's sequence."""
    params = llama_cpp.llama_context_default_params()
    params.n_ctx = n_ctx * (n_parallel + 1)
    params.n_batch = params.n_ubatch = n_batch
    params.n_seq_max = n_parallel + 1
    params.n_threads = params.n_threads_batch = n_threads
    # One KV buffer for all sequences: that is what lets them share the prefix cells.
    params.kv_unified = True
    # Flash attention skips the cells masked out for a sequence; without it every token
    # attends over the cells of all sequences.
    params.flash_attn_type = (
        llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED
        if flash_attn
        else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
    )
    params.swa_full = False  # sliding-window layers keep only their window per sequence
    params.no_perf = True
    return params


class BatchedDecoder:
    """Decode many requests at once on a second llama.cpp context over ``llm``'s weights.

    ``n_ctx`` is the per-document budget (prompt + completion), as for ``Llama(n_ctx=...)``; the
    batched context holds ``n_parallel + 1`` of them (the extra one is the shared prefix).
    """

    def __init__(
        self,
        llm: llama_cpp.Llama,
        n_parallel: int = 8,
        n_ctx: int | None = None,
        n_threads: int = 1,
        flash_attn: bool = True,
        loop: Callable[[], LoopCheck | None] = lambda: None,
        end_after: int = 0,
        **sampling: Any,
    ):
        unknown = set(sampling) - set(SAMPLING_DEFAULTS)
        if unknown:
            raise TypeError(f"unknown sampling settings: {', '.join(sorted(unknown))}")
        model = llm.model
        for kind, test in (
            ("an encoder-decoder", llama_cpp.llama_model_has_encoder),
            ("a recurrent", llama_cpp.llama_model_is_recurrent),
            ("a hybrid", llama_cpp.llama_model_is_hybrid),
            ("a diffusion", llama_cpp.llama_model_is_diffusion),
        ):
            # Their memory cannot share part of one sequence's cache with another.
            if test(model):
                raise BatchingUnavailable(
                    f"batching needs a decoder-only model, this is {kind} one"
                )
        self.llm = llm
        self.n_parallel = n_parallel
        self.loop = loop  # a fresh loop check per document (or None)
        self.end_after = end_after  # end at a sentence end past this many tokens (0: never)
        self.n_ctx = n_ctx or llm.n_ctx()
        self.sampling = {**SAMPLING_DEFAULTS, **sampling}
        self.vocab = llama_cpp.llama_model_get_vocab(model)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        self.n_swa = llama_cpp.llama_model_n_swa(model)  # 0: every layer sees all positions
        self.timings = Timings()
        params = context_params(self.n_ctx, n_parallel, llm.n_batch, n_threads, flash_attn)
        # As Llama does for its own context: llama.cpp's creation notes (here a misleading
        # "n_ctx_seq > n_ctx_train", the total of all sequences) only when verbose.
        with suppress_stdout_stderr(disable=llm.verbose):
            self.ctx = llama_cpp.llama_init_from_model(model, params)
        if not self.ctx:
            raise BatchingUnavailable(
                f"llama.cpp could not create a context for {n_parallel} sequences"
            )
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        self.n_batch = llm.n_batch
        self.batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)

    def close(self) -> None:
        if self.ctx:
            llama_cpp.llama_batch_free(self.batch)
            llama_cpp.llama_free(self.ctx)
            self.ctx = None

    def run(
        self, requests: Iterable[Request], halt: threading.Event | None = None
    ) -> Iterator[tuple[Request, Completion]]:
        """Yield ``(request, completion)`` as each sequence finishes, pulling requests lazily.

        A request that cannot be decoded (prompt longer than ``n_ctx``) stops the intake: the
        sequences already running are finished and yielded, then its ``ZestError`` is raised.
        Setting ``halt`` (from another thread) drops what is in flight and returns.
        """
        halt = halt or threading.Event()
        requests = iter(requests)
        first = list(itertools.islice(requests, self.n_parallel))
        if not first:
            return
        llama_cpp.llama_memory_clear(self.memory, True)
        prefix = self._eval_prefix([self._tokenize(r) for r in first])
        plan = itertools.chain(first, requests)
        free = list(range(self.n_parallel, 0, -1))
        slots: list[_Slot] = []
        error: ZestError | None = None
        try:
            while not halt.is_set():
                new = []
                while free and error is None:
                    request = next(plan, None)
                    if request is None:
                        break
                    try:
                        new.append(self._start(free.pop(), request, prefix, slots + new))
                    except ZestError as exc:
                        error = exc
                slots += new
                self._decode(slots)
                if not slots:
                    break
                for slot in [slot for slot in slots if slot.done]:
                    slots.remove(slot)
                    free.append(slot.seq_id)
                    yield slot.request, self._finish(slot)
        finally:
            for slot in slots:
                llama_cpp.llama_sampler_free(slot.sampler)
        if error is not None:
            raise error

    def _tokenize(self, request: Request) -> list[int]:
        # As create_completion does: BOS, then the prompt with special tokens parsed.
        return self.llm.tokenize(request.prompt.encode("utf-8"), add_bos=True, special=True)

    def _eval_prefix(self, prompts: list[list[int]]) -> list[int]:
        """Evaluate the longest common prefix of ``prompts`` once, into sequence 0."""
        prefix = os.path.commonprefix(prompts)[: self.n_ctx - 1]
        if prefix:
            started = time.perf_counter()
            for start in range(0, len(prefix), self.n_batch):
                chunk = prefix[start : start + self.n_batch]
                self._fill([(PREFIX_SEQ, start + i, token, False) for i, token in enumerate(chunk)])
            self.timings.prefix_s += time.perf_counter() - started
            self.timings.prefix_tokens += len(prefix)
        return prefix

    def _start(
        self, seq_id: int, request: Request, prefix: list[int], running: list[_Slot]
    ) -> _Slot:
        tokens = self._tokenize(request)
        if len(tokens) >= self.n_ctx:
            raise ZestError(
                f"request {request.key}: prompt of {len(tokens)} tokens does not fit "
                f"n_ctx={self.n_ctx}"
            )
        # Reuse the shared cells, but always evaluate at least one token to get logits.
        shared = min(len(os.path.commonprefix([prefix, tokens])), len(tokens) - 1)
        donor, reuse = self._donor(tokens, shared, running)
        llama_cpp.llama_memory_seq_rm(self.memory, seq_id, -1, -1)
        if shared:
            llama_cpp.llama_memory_seq_cp(self.memory, PREFIX_SEQ, seq_id, 0, shared)
        if donor is not None:
            llama_cpp.llama_memory_seq_cp(self.memory, donor.seq_id, seq_id, shared, reuse)
            self.timings.reused_tokens += reuse - shared
        return _Slot(
            seq_id=seq_id,
            request=request,
            prompt_tokens=tokens,
            max_tokens=min(request.max_tokens, self.n_ctx - len(tokens)),
            sampler=self._sampler(request),
            pos=reuse,
            pending=tokens[reuse:],
            loop=self.loop(),
        )

    def _donor(
        self, tokens: list[int], shared: int, running: list[_Slot]
    ) -> tuple[_Slot | None, int]:
        """The running slot whose prompt cells extend the shared prefix furthest into ``tokens``,
        and how far (``shared`` when none does).

        Documents drawn from one anchor have the same prompt and requests come in anchor order,
        so a new document usually finds a sibling still running whose anchor cells it can share
        instead of evaluating them again. Only cells the donor is sure to hold are taken: those
        it has evaluated (``pos``), and, on a sliding-window model, only while the donor is in
        the same ``n_swa`` block of positions as the first of them. llama.cpp may overwrite a
        cell that the one sequence holding it no longer attends to: one ``n_swa`` or more
        behind it (a sliding window, Gemma 3's) or in an earlier block (chunked attention,
        Llama 4's); the same block rules out both.
        """
        best, reach, rest = None, shared, tokens[shared:]
        for slot in running:
            if self.n_swa and slot.pos // self.n_swa > shared // self.n_swa:
                continue
            common = len(os.path.commonprefix([slot.prompt_tokens[shared:], rest]))
            extent = min(shared + common, slot.pos, len(tokens) - 1)
            if extent > reach:
                best, reach = slot, extent
        return best, reach

    def _sampler(self, request: Request):
        """The chain ``Llama._init_sampler`` builds, seeded with the request's seed."""
        s = self.sampling
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        steps = [
            llama_cpp.llama_sampler_init_penalties(
                self.n_vocab,
                self.llm.last_n_tokens_size,
                s["repeat_penalty"],
                s["frequency_penalty"],
                s["presence_penalty"],
            )
        ]
        if request.temperature < 0:
            steps.append(llama_cpp.llama_sampler_init_dist(request.seed))
        elif request.temperature == 0:
            steps.append(llama_cpp.llama_sampler_init_greedy())
        else:
            steps += [
                llama_cpp.llama_sampler_init_top_k(s["top_k"]),
                llama_cpp.llama_sampler_init_typical(s["typical_p"], 1),
                llama_cpp.llama_sampler_init_top_p(s["top_p"], 1),
                llama_cpp.llama_sampler_init_min_p(s["min_p"], 1),
                llama_cpp.llama_sampler_init_temp(request.temperature),
                llama_cpp.llama_sampler_init_dist(request.seed),
            ]
        for step in steps:
            llama_cpp.llama_sampler_chain_add(chain, step)
        return chain

    def _sample(self, slot: _Slot, output: int) -> None:
        """Sample ``slot``'s next token and record it as create_completion does."""
        token = llama_cpp.llama_sampler_sample(slot.sampler, self.ctx, output)
        if llama_cpp.llama_vocab_is_eog(self.vocab, token):
            slot.finish_reason, slot.done = "stop", True
            return
        piece = self.llm.detokenize([token])
        if (
            self.end_after
            and len(slot.tokens) >= self.end_after
            and starts_sentence(slot.text, piece)
        ):
            slot.finish_reason, slot.done = "sentence", True
            return
        slot.tokens.append(token)
        self.timings.generated_tokens += 1
        slot.text += piece
        for stop in slot.request.stop:
            stop = stop.encode("utf-8")
            if stop in slot.text:
                slot.text = slot.text[: slot.text.index(stop)]
                slot.finish_reason, slot.done = "stop", True
                return
        if len(slot.tokens) >= slot.max_tokens:
            slot.finish_reason, slot.done = "length", True
            return
        if slot.loop and slot.loop.add(token):
            cut = self.llm.detokenize(slot.tokens[: slot.loop.cut]).decode("utf-8", errors="ignore")
            slot.text = last_sentence_end(cut).encode("utf-8")
            slot.finish_reason, slot.done = "loop", True
            return
        slot.pending = [token]

    def _finish(self, slot: _Slot) -> Completion:
        llama_cpp.llama_sampler_free(slot.sampler)
        llama_cpp.llama_memory_seq_rm(self.memory, slot.seq_id, -1, -1)
        return Completion(
            text=slot.text.decode("utf-8", errors="ignore"),
            prompt_tokens=len(slot.prompt_tokens),
            completion_tokens=len(slot.tokens),
            finish_reason=slot.finish_reason,
        )

    def _decode(self, slots: list[_Slot]) -> None:
        """Evaluate every slot's pending tokens in shared batches, then sample for each slot.

        New slots' prompt suffixes ride along with the running slots' last tokens; the time of
        such a mixed llama_decode call is split between ``prompt_s`` and ``decode_s`` by tokens.
        """
        entries = []
        for slot in slots:
            prompt = not slot.tokens
            last = len(slot.pending) - 1
            entries += [
                (slot, slot.pos + i, t, i == last, prompt) for i, t in enumerate(slot.pending)
            ]
            slot.pos += len(slot.pending)
            slot.pending = []
        timings = self.timings
        for start in range(0, len(entries), self.n_batch):
            chunk = entries[start : start + self.n_batch]
            started = time.perf_counter()
            self._fill([(slot.seq_id, pos, token, last) for slot, pos, token, last, _ in chunk])
            sampled = time.perf_counter()
            for index, (slot, _, _, last, _) in enumerate(chunk):
                if last:
                    self._sample(slot, index)
            n_prompt = sum(entry[4] for entry in chunk)
            timings.prompt_tokens += n_prompt
            timings.prompt_s += (sampled - started) * n_prompt / len(chunk)
            timings.decode_s += (sampled - started) * (len(chunk) - n_prompt) / len(chunk)
            timings.sample_s += time.perf_counter() - sampled
            timings.steps += 1

    def _fill(self, entries: list[tuple[int, int, int, bool]]) -> None:
        """One llama_decode of ``(seq_id, pos, token, wants_logits)`` entries."""
        status = llama_cpp.llama_decode(self.ctx, fill_batch(self.batch, entries))
        if status != 0:
            raise ZestError(f"llama.cpp batched decode failed (status {status})")


def fill_batch(batch, entries: list[tuple[int, int, int, bool]]):
    """``batch`` (a ``llama_batch``) holding ``(seq_id, pos, token, wants_logits)`` entries."""
    for i, (seq_id, pos, token, wants) in enumerate(entries):
        batch.token[i] = token
        batch.pos[i] = pos
        batch.n_seq_id[i] = 1
        batch.seq_id[i][0] = seq_id
        batch.logits[i] = wants
    batch.n_tokens = len(entries)
    return batch


def run_parallel(
    decoders: list[BatchedDecoder], requests: Iterable[Request]
) -> Iterator[tuple[Request, Completion]]:
    """Spread ``requests`` over decoders that each run in their own thread.

    One llama.cpp context on two threads makes them meet at every graph node, and whenever
    another process takes one core the other thread spins waiting; separate one-thread contexts
    never wait for each other (llama.cpp releases the GIL while it computes). Request ``i`` goes
    to decoder ``i % len(decoders)``, so what each decoder batches, and thus its output, does not
    depend on timing. A failure closes the intake of all; what is running still finishes.
    """
    if len(decoders) == 1:
        yield from decoders[0].run(requests)
        return
    source, lock = enumerate(requests), threading.Lock()
    shares: list[list[Request]] = [[] for _ in decoders]
    exhausted = False
    failed, halt = threading.Event(), threading.Event()
    finished: queue.Queue = queue.Queue()

    def share(index: int) -> Iterator[Request]:
        nonlocal exhausted
        while not failed.is_set():
            with lock:
                while not shares[index] and not exhausted:
                    i, request = next(source, (None, None))
                    if request is None:
                        exhausted = True
                    else:
                        shares[i % len(decoders)].append(request)
                if not shares[index]:
                    return
                request = shares[index].pop(0)
            yield request

    def work(index: int) -> None:
        try:
            for pair in decoders[index].run(share(index), halt):
                finished.put(pair)
        except BaseException as exc:  # handed to the consuming thread
            failed.set()
            finished.put(exc)
        finally:
            finished.put(None)

    threads = [
        threading.Thread(target=work, args=(i,), name=f"{WORKER_THREAD}-{i}", daemon=True)
        for i in range(len(decoders))
    ]
    for thread in threads:
        thread.start()
    error, running = None, len(threads)
    try:
        while running:
            item = finished.get()
            if item is None:
                running -= 1
            elif isinstance(item, BaseException):
                error = error or item
            else:
                yield item
    finally:
        halt.set()  # only matters when the consumer stopped early
        for thread in threads:
            thread.join()
    if error is not None:
        raise error


__all__ = [
    "BatchedDecoder",
    "BatchingUnavailable",
    "SAMPLING_DEFAULTS",
    "Timings",
    "context_params",
    "fill_batch",
    "run_parallel",
]
