"""The default backend: a transformers model on local GPUs (or the CPU).

Generation runs in a worker thread that feeds an asyncio queue, so the event loop never waits
on torch. A per-request stopping criterion watches a flag the consumer sets when it stops
reading, which ends the decode loop at the next token.
"""

import asyncio
import concurrent.futures
import functools
import logging
import threading
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import AbstractContextManager, aclosing, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from starchat.engine.base import (
    Chunk,
    CompletionRequest,
    EngineError,
    FinishReason,
    GenerationRequest,
    Health,
    ModelLoadError,
    ModelNotFoundError,
    PromptTooLongError,
    Sampling,
    Side,
    Usage,
)
from starchat.engine.deadline import within_deadline
from starchat.engine.default_model import DEFAULT_MODEL_NAME, ensure_default_model
from starchat.engine.detokenize import IncrementalDetokenizer
from starchat.engine.hub import ModelSource, resolve_model
from starchat.engine.kv_cache import KvStore
from starchat.engine.sampling import (
    DEFAULT_MAX_NEW_TOKENS,
    DEFAULT_MODEL_SAMPLING,
    STARCHAT_SAMPLING,
    for_purpose,
    merged,
)
from starchat.engine.settings import EngineSettings
from starchat.engine.turns import COMPLETIONS_FIRST, turns_for
from starchat.prompts import END_TOKEN, STARCHAT_TEMPLATE, Message

logger = logging.getLogger(__name__)

_DONE = object()

_TEMPLATE_DEADLINE_S = 2.0
"""A chat template renders in milliseconds; one from a model directory that loops is
stopped here rather than stall every request queued behind it."""


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_JOIN_TIMEOUT_S = 30.0
_LOADING = threading.Lock()
_LOOKUP_TOKENS = 10
"""Draft length for prompt-lookup decoding (transformers' default n-gram match of 2)."""
_MAX_CHARS_PER_TOKEN = 48
"""Longer than any token of a code tokenizer (runs of spaces are the longest)."""


async def _joined(join: Callable[[float], object]) -> None:
    """Wait for a decode that was told to stop (`join(timeout)`): it ends at its next token.

    Waiting means that when a consumer's `aclose()` or cancellation returns, the model is
    free again, and no thread is left inside torch when the process exits.
    """
    try:
        await asyncio.to_thread(join, _JOIN_TIMEOUT_S)
    except RuntimeError:  # the event loop is shutting down and its executor is gone
        join(_JOIN_TIMEOUT_S)


Lane = Literal["chat", "completion"]
_LANES: tuple[Lane, ...] = ("chat", "completion")


@dataclass(frozen=True)
class _Plan:
    """How one decode runs, besides its prompt and sampling."""

    seed: int | None
    stop_ids: list[int]
    lookup: int = 0
    """> 0: prompt-lookup decoding with drafts of that many tokens."""
    cache_key: str | None = None
    """Reuse and keep the key/value cache under this key (kv_cache.py)."""
    cache_budget: int = 0
    """Bytes all kept caches may use."""
    lane: Lane = "chat"
    """Which long-lived thread decodes it when the decoder is compiled (_start)."""


_STATIC_CACHE_BYTES = 1 << 30
"""The compiled decoder's cache holds the model's whole window, or as many tokens as fit in
this many bytes if fewer."""


def static_cache_tokens(model: Any, window: int) -> int:
    """The size, in tokens, of the compiled decoder's static cache. transformers compiles its
    graph for one cache size, and a request that needs more than the previous largest grows
    the cache — and compiles again, for minutes. So it is sized once, at load, for the whole
    window where that is cheap (StarCoder's multi-query attention: 8,192 tokens in 168 MB) and
    to 1 GiB where it is not (a 7 B model with full multi-head attention: 2,048 tokens); only
    a request longer than that compiles again."""
    per_token = _kv_bytes_per_token(model)
    if per_token is None:
        return min(window, 4096)
    return max(min(window, 1024), min(window, _STATIC_CACHE_BYTES // per_token))


def _kv_bytes_per_token(model: Any) -> int | None:
    """Bytes of keys and values one token takes in every layer's cache; None if unknown."""
    try:
        shape = model._get_static_cache_init_shape()  # (key/value heads, head size)
        layers = int(model.config.get_text_config(decoder=True).num_hidden_layers)
        size = int(model.dtype.itemsize)
    except (AttributeError, TypeError, ValueError):
        return None
    if shape is None:
        return None
    heads, dims = (v if isinstance(v, list) else [v] * layers for v in shape)
    return 2 * size * sum(h * d for h, d in zip(heads, dims, strict=False))


def between_steps(stop: threading.Event, pause: Callable[[], None] | None = None) -> Any:
    """What `generate` runs after each step: `pause()` (hand the device's turn on, or give
    way to a completion: turns.py), then stop when `stop` is set (cancel, a newer request, a
    stop text). Its answer is on the model's device (`generate` ORs it with its own: a CPU
    tensor beside a GPU's fails)."""
    import torch
    from transformers import StoppingCriteria

    class BetweenSteps(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            if pause is not None:
                pause()
            return torch.full(
                (input_ids.shape[0],), stop.is_set(), dtype=torch.bool, device=input_ids.device
            )

    return BetweenSteps()


@dataclass
class _Reused:
    """Prompt tokens a generation took from a kept cache (set by its worker thread)."""

    tokens: int = 0


_CACHE_WAIT_S = 30.0
"""The longest a generation waits for its kept cache held by another one (a superseded
completion gives it back at its next token; this bounds the unforeseen)."""


class TransformersEngine:
    """A causal LM from a Hub id or a local directory, served with its chat template."""

    def __init__(
        self, settings: EngineSettings, progress: Callable[[str], None] = lambda _: None
    ) -> None:
        self._settings = settings
        self._progress = progress
        self._label = settings.model or DEFAULT_MODEL_NAME
        self._health = Health("loading", self._label, settings.device)
        self._load_lock = asyncio.Lock()
        self._model: Any = None
        self._tokenizer: Any = None
        self._template: str | None = None
        self._stop_ids: list[int] = []
        self._vocab: dict[str, int] = {}
        """The tokenizer's vocabulary, read once per load (a completion's stop tokens are
        looked up in it on every keystroke)."""
        self._defaults = STARCHAT_SAMPLING
        self._context_window = settings.context_tokens or 8192
        self._kv = KvStore()
        self._turns = turns_for(settings.device)
        self._compiled = False
        """Decoding uses the static cache transformers compiles (the `compile` setting)."""
        self._static_tokens = 0
        """The size of that cache, in tokens: the same for every request (static_cache_tokens)."""
        self._lanes: dict[Lane, concurrent.futures.ThreadPoolExecutor] = {}
        """With the compiled decoder: the threads that decode (_start)."""

    @property
    def context_window(self) -> int:
        return self._context_window

    def health(self) -> Health:
        return self._health

    async def load(self) -> None:
        async with self._load_lock:
            if self._model is not None:
                return
            try:
                await asyncio.to_thread(self._load_sync)
            except EngineError as error:
                self._health = Health("error", self._label, self._settings.device, str(error))
                raise
            except Exception as error:  # a broken checkpoint, out of memory, …
                wrapped = ModelLoadError(f"Could not load model '{self._label}': {error}")
                self._health = Health("error", self._label, self._settings.device, str(wrapped))
                raise wrapped from error

    def _placement(self) -> tuple[Any, str | None, str]:
        """(dtype, device_map, description) for the configured device and dtype."""
        import torch

        device = self._settings.device
        use_cuda = device in ("auto", "cuda") and torch.cuda.is_available()
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ModelLoadError(f"device '{device}' was asked for, but no CUDA GPU is visible")
        names = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
        if self._settings.dtype != "auto":
            dtype = names[self._settings.dtype]
        elif use_cuda or device.startswith("cuda"):
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        else:
            dtype = torch.float32
        dtype_name = str(dtype).removeprefix("torch.")
        if use_cuda and device in ("auto", "cuda"):
            gpus = torch.cuda.device_count()
            return dtype, "auto", f"cuda ×{gpus} {dtype_name}"
        target = "cpu" if device == "auto" else device
        return dtype, target, f"{target} {dtype_name}"

    def _load_sync(self) -> None:
        # One load at a time in the process: transformers' lazy imports are not safe to race
        # (a chat model and a completion model load together), and it bounds peak memory.
        with _LOADING, self._turn():
            self._load_one()

    def _load_one(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        started = time.perf_counter()
        source = (
            resolve_model(self._settings.model)
            if self._settings.model is not None
            else ModelSource(str(ensure_default_model(self._progress)), local_files_only=True)
        )
        dtype, device_map, described = self._placement()
        self._health = Health("loading", self._label, described)
        self._progress(f"Loading {self._label} on {described}…")
        offline = source.local_files_only
        try:
            tokenizer = AutoTokenizer.from_pretrained(source.name, local_files_only=offline)
            model = AutoModelForCausalLM.from_pretrained(
                source.name, dtype=dtype, device_map=device_map, local_files_only=offline
            )
        except OSError as error:
            if not Path(source.name).exists():
                raise ModelNotFoundError(
                    f"Model '{source.name}' is not a local directory and could not be fetched "
                    "from the Hugging Face Hub (no such repository, or not cached). Pass a "
                    "local path, or leave the model unset to use the offline default, "
                    f"{DEFAULT_MODEL_NAME}."
                ) from error
            raise ModelLoadError(f"Could not load model from {source.name}: {error}") from error
        model.eval()
        self._configure(tokenizer, model)
        self._model, self._tokenizer = model, tokenizer
        note = self._compile_decoder() if self._settings.compile else None
        self._health = Health("ready", self._label, described, note)
        self._progress(
            f"{self._label} ready on {described} in {time.perf_counter() - started:.1f} s"
        )

    def _compile_decoder(self) -> str | None:
        """The GPU fast path: decode with a static cache, which transformers compiles with
        `torch.compile` (CUDA graphs); compiled here, at load, on a short prompt. None when it
        works, else why decoding stays eager (the status shows it)."""
        import torch

        if self._model.device.type != "cuda":
            return "compile needs a CUDA GPU: decoding eagerly"
        self._progress(f"Compiling {self._label}'s decoder (the first time takes minutes)…")
        ids = torch.tensor(
            [self._encode([{"role": "user", "content": "Hi"}])], device=self._model.device
        )
        tokens = static_cache_tokens(self._model, self._context_window)

        def warm() -> None:
            with torch.inference_mode():
                for _ in range(3):  # compile, then record the CUDA graphs, then replay them
                    self._model.generate(
                        input_ids=ids,
                        attention_mask=torch.ones_like(ids),
                        cache_implementation="static",
                        max_cache_len=tokens,
                        **self._generation_kwargs(Sampling(max_new_tokens=8), self._stop_ids),
                    )

        self._open_lanes()
        try:
            for lane in _LANES:  # compiled once; each lane's thread records its own graphs
                self._lanes[lane].submit(warm).result()
        except Exception as error:
            self._close_lanes()
            logger.warning("compiling %s failed, decoding eagerly: %s", self._label, error)
            return f"compile failed ({type(error).__name__}: {error}): decoding eagerly"
        self._compiled, self._static_tokens = True, tokens
        return None

    def _configure(self, tokenizer: Any, model: Any) -> None:
        """Pick the dialogue format, stop tokens, sampling defaults and context window."""
        self._vocab = vocab = tokenizer.get_vocab()
        stop_ids: set[int] = set()
        eos = model.generation_config.eos_token_id
        stop_ids.update(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if tokenizer.eos_token_id is not None:
            stop_ids.add(tokenizer.eos_token_id)
        if END_TOKEN in vocab and "<|assistant|>" in vocab:
            self._template, self._defaults = STARCHAT_TEMPLATE, STARCHAT_SAMPLING
            stop_ids.add(vocab[END_TOKEN])
        elif tokenizer.chat_template:
            self._template = None
            if self._settings.model is None:
                self._defaults = DEFAULT_MODEL_SAMPLING
        else:
            self._template = STARCHAT_TEMPLATE
            message = (
                f"{self._label} has no chat template and no StarChat tokens: using the StarChat "
                "format, which a model never tuned on it may not follow"
            )
            logger.warning(message)
            self._progress(message)
        self._stop_ids = sorted(stop_ids)
        config = model.config
        own = getattr(config, "max_position_embeddings", None) or getattr(
            config, "n_positions", None
        )
        limits = [n for n in (own, self._settings.context_tokens) if n]
        self._context_window = min(limits) if limits else 8192

    def _require_loaded(self) -> None:
        if self._tokenizer is None:
            raise ModelLoadError(f"{self._label} is not loaded ({self._health.state})")

    def render_prompt(self, messages: list[Message], prefix: str = "") -> str:
        """The chat template's prompt, which ends where the answer starts, then `prefix`: the
        answer so far is the start of the model's own turn, not a message of its own."""
        self._require_loaded()
        rendered = within_deadline(
            _TEMPLATE_DEADLINE_S,
            lambda: self._tokenizer.apply_chat_template(
                messages, chat_template=self._template, add_generation_prompt=True, tokenize=False
            ),
            f"{self._label}'s chat template",
        )
        return str(rendered) + prefix

    def _encode(self, messages: list[Message], prefix: str = "") -> list[int]:
        # The template already writes every special token the model needs.
        ids = self._tokenizer(self.render_prompt(messages, prefix), add_special_tokens=False)
        return list(ids["input_ids"])

    def count_tokens(self, messages: list[Message], prefix: str = "") -> int:
        return len(self._encode(messages, prefix))

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[Chunk | Usage, None]:
        await self.load()
        prompt_ids = await asyncio.to_thread(self._encode, request.messages, request.prefix)
        sampling = merged(request.sampling, self._defaults)
        # A continued answer's last tokens are decoded with the new ones, so that a tokenizer
        # whose pieces carry their leading space (SentencePiece) does not lose it at the seam.
        seam = prompt_ids[-4:] if request.prefix else []
        plan = _Plan(
            request.seed,
            self._stop_ids,
            _LOOKUP_TOKENS if request.lookup else 0,
            request.cache.key if request.cache else None,
            request.cache.budget_mb * 2**20 if request.cache else 0,
        )
        # Closed with this generator, so that the decode thread has ended when `aclose()` returns.
        async with aclosing(self._stream(prompt_ids, sampling, plan, seam)) as stream:
            async for item in stream:
                yield item

    def special_tokens(self) -> frozenset[str] | None:
        self._require_loaded()
        tokenizer = self._tokenizer
        return frozenset(tokenizer.all_special_tokens) | frozenset(tokenizer.get_added_vocab())

    def cut(self, text: str, tokens: int, keep: Side) -> str:
        self._require_loaded()
        if tokens <= 0 or not text:
            return ""
        # No token spans more than a few dozen characters: tokenize only what can fit.
        bound = tokens * _MAX_CHARS_PER_TOKEN
        part = text[-bound:] if keep == "end" else text[:bound]
        if not getattr(self._tokenizer, "is_fast", False):
            size = int(tokens * 3)
            return part[-size:] if keep == "end" else part[:size]
        spans = self._tokenizer(part, add_special_tokens=False, return_offsets_mapping=True)[
            "offset_mapping"
        ]
        if len(spans) <= tokens:
            return part
        if keep == "end":
            # The first kept token's start; byte pieces of one character share its offsets,
            # so a start is always a character boundary.
            start = spans[len(spans) - tokens][0]
            if start < len(part) and spans[len(spans) - tokens - 1][0] == start:
                start = next((s for s, _ in spans[len(spans) - tokens :] if s > start), len(part))
            return part[start:]
        end = spans[tokens - 1][1]
        if spans[tokens][0] < end:  # the next token holds the rest of the last character
            end = spans[tokens - 1][0]
        return part[:end]

    async def complete(self, request: CompletionRequest) -> AsyncGenerator[Chunk | Usage, None]:
        await self.load()
        prompt_ids = await asyncio.to_thread(self._encode_text, request.prompt, request.bos)
        vocab = self._vocab
        stop_ids = sorted(set(self._stop_ids) | {vocab[t] for t in request.stop if t in vocab})
        sampling = for_purpose(request.sampling, "code")
        plan = _Plan(
            request.seed,
            stop_ids,
            cache_key=request.cache.key if request.cache else None,
            cache_budget=request.cache.budget_mb * 2**20 if request.cache else 0,
            lane="completion",
        )
        async with aclosing(self._stream(prompt_ids, sampling, plan, [])) as stream:
            async for item in stream:
                yield item

    def _encode_text(self, text: str, bos: bool) -> list[int]:
        ids = self._tokenizer(text, add_special_tokens=bos)["input_ids"]
        if (
            bos
            and self._tokenizer.bos_token_id is not None
            and ids[:1] != [self._tokenizer.bos_token_id]
        ):
            ids = [self._tokenizer.bos_token_id, *ids]
        return list(ids)

    async def _stream(
        self,
        prompt_ids: list[int],
        sampling: Sampling,
        plan: "_Plan",
        seam: list[int],
    ) -> AsyncGenerator[Chunk | Usage, None]:
        """Decode after `prompt_ids` in a worker thread; chunks of text, then the usage."""
        started = time.perf_counter()
        room = self._context_window - len(prompt_ids)
        if room < 1:
            raise PromptTooLongError(
                f"the prompt is {1 - room} tokens longer than the model's "
                f"{self._context_window}-token window leaves room for (it must leave one "
                "token for the answer)",
                1 - room,
            )
        sampling = replace(
            sampling, max_new_tokens=min(sampling.max_new_tokens or DEFAULT_MAX_NEW_TOKENS, room)
        )
        if self._compiled and not plan.lookup:
            # The compiled static-cache decoder replaces reuse of dynamic caches.
            plan = replace(plan, cache_key=None)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()
        stop_ids = plan.stop_ids
        reused = _Reused()
        join = self._start(
            plan.lane, lambda: self._decode(prompt_ids, sampling, plan, reused, stop, loop, queue)
        )
        detok = IncrementalDetokenizer(self._tokenizer, seam)
        generated = 0
        first: float | None = None
        last = started
        finish: FinishReason = "length"
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, _Failed):
                    raise EngineError(f"generation failed: {item.error}") from item.error
                last = time.perf_counter()
                first = first or last
                for token in item:
                    generated += 1
                    if token in stop_ids:
                        finish = "stop"
                    elif text := detok.add(token):
                        yield Chunk(text)
            if tail := detok.flush():
                yield Chunk(tail)
            if stop.is_set():
                finish = "cancelled"
            ttft = first - started if first is not None else None
            decode_time = last - first if first is not None else 0.0
            rate = (generated - 1) / decode_time if generated > 1 and decode_time > 0 else None
            yield Usage(len(prompt_ids), generated, ttft, rate, finish, reused.tokens)
        finally:
            stop.set()
            await _joined(join)

    def _decode(
        self,
        prompt_ids: list[int],
        sampling: Sampling,
        plan: "_Plan",
        reused: "_Reused",
        stop: threading.Event,
        loop: asyncio.AbstractEventLoop,
        queue: "asyncio.Queue[Any]",
    ) -> None:
        """Generate in this (worker) thread, holding the conversation's kept cache, if any,
        for the whole generation (kv_cache.py)."""
        put = queue.put_nowait
        key = plan.cache_key
        try:
            if key:
                self._kv.wait_returned(key, _CACHE_WAIT_S, stopped=stop.is_set)
            with self._turn():
                try:
                    cache, reused.tokens = self._kv.take(key, prompt_ids) if key else (None, 0)
                    if not stop.is_set():  # not cancelled while it waited
                        with self._completing(plan.lane):
                            self._generate(prompt_ids, sampling, plan, cache, stop, loop, put)
                finally:
                    if key:
                        self._kv.give_back(key)
        except BaseException as error:
            loop.call_soon_threadsafe(put, _Failed(error))
        finally:
            loop.call_soon_threadsafe(put, _DONE)

    def _completing(self, lane: Lane) -> AbstractContextManager[None]:
        """Chat answers give way while a completion decodes (turns.py)."""
        return COMPLETIONS_FIRST.completing() if lane == "completion" else nullcontext()

    def _turn(self) -> AbstractContextManager[None]:
        """The device's turn, on a device where threads take turns (turns.py)."""
        return self._turns.held() if self._turns is not None else nullcontext()

    def _generate(
        self,
        prompt_ids: list[int],
        sampling: Sampling,
        plan: "_Plan",
        cache: Any,
        stop: threading.Event,
        loop: asyncio.AbstractEventLoop,
        put: Callable[[Any], None],
    ) -> None:
        import torch
        from transformers import StoppingCriteriaList

        class Stream:
            """Receives each new token from `generate`; the first call is the prompt."""

            prompt_seen = False

            def put(self, value: Any) -> None:
                if not self.prompt_seen:
                    self.prompt_seen = True
                    return
                loop.call_soon_threadsafe(put, value.reshape(-1).tolist())

            def end(self) -> None:
                pass

        pause: Callable[[], None] | None = None
        if self._turns is not None:
            pause = self._turns.pass_on
        elif plan.lane == "chat":
            pause = functools.partial(COMPLETIONS_FIRST.give_way, stop.is_set)
        extra: dict[str, Any] = {}
        if plan.lookup:
            extra["prompt_lookup_num_tokens"] = plan.lookup
        elif self._compiled:
            # One cache size for every request: the graph compiled at load is the one used.
            extra |= {"cache_implementation": "static", "max_cache_len": self._static_tokens}
        if cache is not None:
            extra["cache"] = cache
        if plan.cache_key:
            extra["return_dict_in_generate"] = True
        try:
            if plan.seed is not None:
                torch.manual_seed(plan.seed)
            device = self._model.device
            input_ids = torch.tensor([prompt_ids], device=device)
            with torch.inference_mode():
                output = self._model.generate(
                    input_ids=input_ids,
                    attention_mask=torch.ones_like(input_ids),
                    streamer=Stream(),
                    stopping_criteria=StoppingCriteriaList([between_steps(stop, pause)]),
                    **self._generation_kwargs(sampling, plan.stop_ids),
                    **extra,
                )
            if plan.cache_key and getattr(output, "cache", None) is not None:
                ids = output.sequences[0].tolist()
                self._kv.put(plan.cache_key, ids, output.cache, plan.cache_budget)
        except BaseException as error:
            loop.call_soon_threadsafe(put, _Failed(error))

    def _generation_kwargs(self, sampling: Sampling, stop_ids: list[int]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "max_new_tokens": sampling.max_new_tokens,
            "eos_token_id": stop_ids,
            "pad_token_id": self._tokenizer.pad_token_id or stop_ids[0],
            "repetition_penalty": sampling.repetition_penalty,
        }
        if sampling.temperature:
            kwargs |= {
                "do_sample": True,
                "temperature": sampling.temperature,
                "top_p": sampling.top_p,
                "top_k": sampling.top_k,
            }
        else:
            kwargs |= {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        return kwargs

    def _start(self, lane: Lane, work: Callable[[], None]) -> Callable[[float], object]:
        """Run `work` (a decode) in a thread; returns how to wait for it to end.

        Eager decoding gets a thread of its own. The compiled decoder's CUDA graphs are
        recorded per thread (torch's cudagraph trees keep thread-local state), so it decodes
        on one long-lived thread per lane — chat answers on one, completions on the other,
        so that neither waits for the other — where load recorded them."""
        lanes = self._lanes
        if lanes:
            future = lanes[lane].submit(work)
            return lambda timeout: concurrent.futures.wait([future], timeout)
        worker = threading.Thread(target=work, name="starchat-generate", daemon=True)
        worker.start()
        return worker.join

    def _open_lanes(self) -> None:
        self._lanes = {
            lane: concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"starchat-{lane}")
            for lane in _LANES
        }

    def _close_lanes(self) -> None:
        lanes, self._lanes = self._lanes, {}
        for executor in lanes.values():
            executor.shutdown(wait=False, cancel_futures=True)

    async def close(self) -> None:
        self._close_lanes()
        self._kv.clear()
        self._model = self._tokenizer = None
