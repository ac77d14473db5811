"""The server's engine on one GPU; StarCoder-15.5B's decode and prefill against the
hardware's limits; and the recipe's ZeRO-3 training throughput. Nothing is downloaded: the
models are built from their configurations with random weights, and fed synthetic token ids.

engine: the server's own TransformersEngine on the device, with a small random
  StarChat-format model (6 layers, n_embd 512, FIM tokens; --tiny: 2 × 64) saved to a
  temporary directory and loaded as a user's model is: a chat answer eager and with prompt
  lookup, a follow-up keeping the previous turn's keys and values, a completion while a long
  chat answer streams, and the compiled decoder. It checks the paths `model.generate` alone
  does not (the stop signal, caches, threads) and puts their figures side by side.

    .venv/bin/python bench/gpu.py                 # one H100/H200: a few minutes, at most 8
    .venv/bin/python bench/gpu.py --tiny          # a 2-layer, 64-wide model: ~30 s, any device
    .venv/bin/python bench/gpu.py --sections train --bandwidth-tbs 3.35 --peak-tflops 989

Random weights change no timing (every forward reads every weight and does the same
arithmetic), but they do decide which tokens greedy decoding picks, which matters to prompt
lookup. So every decode run forces its continuation with a logits processor that adds a
large constant to one chosen token per position (nothing is set to -inf, so prompt lookup's
own check of its drafts against the processors stays blind to the answer). All rows then
generate the same kind of continuation through `model.generate`'s real code paths:

decode (single stream, greedy, bf16, an edit-like prompt: system text, a 400-token "code"
block, an instruction; the tokens are distinct, so an n-gram names one place in the prompt)
  eager              dynamic cache, no compilation.
  static + compile   `cache_implementation="static"`, the forward compiled by `generate`
                     (inductor, CUDA graphs); "unsupported" with the reason if this
                     transformers cannot, never a crash. On CPU the compile uses dynamo's
                     eager backend: it checks the path, not the speed.
  prompt lookup, edit copies the block
                     `prompt_lookup_num_tokens`, continuation = the code block with one token
                     in 40 changed (a rename, say): the best case for an edit, since real
                     code repeats n-grams that can send the lookup to the wrong place.
  prompt lookup, nothing to copy
                     continuation of tokens found nowhere in the prompt: no draft is ever
                     proposed, so this is the lookup's pure overhead against eager.
  prompt lookup ceiling
                     not `generate`: one forward of k+1 tokens after the prompt against one
                     of 1 token (k = --lookup-tokens). (k+1) / its time is what decoding
                     would reach if every draft were accepted and nothing else cost time.
  Tokens/s (but the ceiling's) = (N - 1) / (time for N new tokens - time for 1), each the
  median of --runs runs after warm-up, so the prompt's prefill is not counted. Share =
  tokens/s over the bandwidth bound, memory bandwidth / bytes read per token (every weight
  but the position embeddings, whose one row per token is negligible, plus the KV cache at
  the mean context length): ≈31 GB, so ≈108 tokens/s on an H100 SXM (3.35 TB/s), ≈155 on
  an H200 (4.8 TB/s).
  Prompt lookup checks several tokens per weight read, so its share may pass 100 %.

prefill: one forward of 2,000 tokens (logits for the last position only, as `generate`
  does), synchronized, median after warm-up. Prefill is compute-bound, so its share is of
  the dense bf16 peak: FLOPs = 2·N·T + 2·L·T²·d (N: weights used per token, causal attention).

train: the starchat-alpha recipe's settings (finetune/recipes/starchat-alpha.yaml and its
  DeepSpeed ZeRO-3 config, "auto" values filled as the Trainer fills them): fp32 master
  weights, bf16 compute, activation checkpointing, sdpa, 4 rows × 1,024 tokens × 8
  accumulation steps per optimizer step, AdamW; one process through `deepspeed.initialize`,
  on a 1.1 B GPTBigCode (24 layers, n_embd 2048, 16 heads, multi-query). Tokens/s after one
  warm-up step; MFU = (6·N + 12·L·d·T) · tokens/s / peak (PaLM's model FLOPs); HFU adds the
  forward that checkpointing recomputes: (8·N + 16·L·d·T). With --tiny on a CPU: gloo,
  fp32, 2 steps of 2 × 64 tokens, so CI runs the same code.

The GPU's bandwidth and peak come from a table by device name, or --bandwidth-tbs and
--peak-tflops; a CPU has neither, so its rows have no share unless the flags give nominal
ones. Progress goes to stderr with timestamps; stdout gets a Markdown table, then one JSON line.
"""

import argparse
import asyncio
import contextlib
import functools
import gc
import json
import os
import socket
import statistics
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "finetune" / "recipes" / "starchat-alpha.yaml"
SECTIONS = ("engine", "decode", "prefill", "train")

VOCAB = 49_152
STARCODER = {"n_layer": 40, "n_embd": 6144, "n_head": 48, "n_positions": 8192}
TRAIN_1B = {"n_layer": 24, "n_embd": 2048, "n_head": 16, "n_positions": 8192}
TINY = {"n_layer": 2, "n_embd": 64, "n_head": 4, "n_positions": 4096}

# (substrings of the device name, memory bandwidth TB/s, dense bf16 peak TFLOPs); first match
# wins. GH200 comes in two memory versions, so it needs the flags.
GPUS: list[tuple[tuple[str, ...], float | None, float | None]] = [
    (("GH200",), None, None),
    (("H200", "NVL"), 4.8, 835),
    (("H200",), 4.8, 989),
    (("H100", "PCIe"), 2.0, 756),
    (("H100", "NVL"), 3.9, 835),
    (("H100",), 3.35, 989),
    (("A100", "80GB"), 2.0, 312),
    (("A100",), 1.555, 312),
    (("L40S",), 0.864, 362),
]

# Seconds each part should take on an H100/H200 (8 minutes in all, with slack); a part that
# runs over says so on stderr.
BUDGET = {"engine": 60, "build": 45, "decode": 240, "prefill": 15, "train": 90}

PROMPT = {"system": 60, "code": 400, "instruction": 40}
TINY_PROMPT = {"system": 20, "code": 100, "instruction": 10}
EDIT_EVERY = 40

_START = time.perf_counter()


def log(message: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"[{stamp} +{time.perf_counter() - _START:6.1f}s] {message}", file=sys.stderr, flush=True)


@dataclass
class Hardware:
    name: str
    device: torch.device
    bandwidth_tbs: float | None
    peak_tflops: float | None


@dataclass
class Row:
    section: str
    name: str
    value: float | None  # None: unsupported or failed, `note` says why
    unit: str
    share: float | None = None
    share_of: str = ""
    note: str = ""
    figures: dict[str, float] = field(default_factory=dict)  # the note's numbers, for the JSON


def gpu_limits(name: str) -> tuple[float | None, float | None]:
    """(memory bandwidth TB/s, dense bf16 peak TFLOPs) of a device by its CUDA name."""
    return next(
        ((bw, pk) for keys, bw, pk in GPUS if all(k.lower() in name.lower() for k in keys)),
        (None, None),
    )


def detect_hardware(options: argparse.Namespace) -> Hardware:
    if not torch.cuda.is_available():
        return Hardware("CPU", torch.device("cpu"), options.bandwidth_tbs, options.peak_tflops)
    name = torch.cuda.get_device_name()
    bandwidth, peak = gpu_limits(name)
    return Hardware(
        name,
        torch.device("cuda"),
        options.bandwidth_tbs or bandwidth,
        options.peak_tflops or peak,
    )


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(device: torch.device, run: Callable[[], object]) -> float:
    sync(device)
    started = time.perf_counter()
    run()
    sync(device)
    return time.perf_counter() - started


class Section:
    """Logs a part's start and end against its budget."""

    def __init__(self, name: str, budget: float | None) -> None:
        self.name, self.budget = name, budget

    def __enter__(self) -> "Section":
        self.started = time.perf_counter()
        log(f"{self.name}: start" + (f" (budget {self.budget:.0f} s)" if self.budget else ""))
        return self

    def __exit__(self, *_: object) -> None:
        took = time.perf_counter() - self.started
        over = " — OVER BUDGET" if self.budget and took > self.budget else ""
        log(f"{self.name}: done in {took:.1f} s{over}")


# ----------------------------------------------------------------------------- models


def build_model(shape: dict[str, int], hw: Hardware, dtype: torch.dtype) -> Any:
    """A GPTBigCode with random weights, allocated on the device itself (no CPU copy)."""
    from transformers import AutoModelForCausalLM, GPTBigCodeConfig

    config = GPTBigCodeConfig(
        vocab_size=VOCAB,
        multi_query=True,
        bos_token_id=0,  # StarCoder's <|endoftext|>; the class default lies outside the vocab
        eos_token_id=0,
        n_layer=shape["n_layer"],
        n_embd=shape["n_embd"],
        n_head=shape["n_head"],
        n_positions=shape["n_positions"],
    )
    with hw.device:
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation="sdpa")
    return model


def weights_used_per_token(model: Any) -> int:
    """Parameters every token multiplies by: all but the position embeddings (one row each).
    The tied input embedding counts once, as the output layer."""
    return sum(p.numel() for n, p in model.named_parameters() if ".wpe." not in n)


def describe(shape: dict[str, int], params: int) -> str:
    size = f"{params / 1e9:.2f} B" if params >= 1e8 else f"{params / 1e6:.2f} M"
    return (
        f"GPTBigCode {size} (layers {shape['n_layer']}, n_embd {shape['n_embd']}, "
        f"heads {shape['n_head']}, multi-query)"
    )


# ----------------------------------------------------------------------------- decode


class ForceContinuation:
    """A logits processor that makes greedy decoding follow `target` (ids by position)."""

    def __init__(self, target: list[int]) -> None:
        self.target = target

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        scores[:, self.target[input_ids.shape[1]]] += 1e9
        return scores


def edit_prompt(
    sizes: dict[str, int], new_tokens: int, seed: int = 0
) -> tuple[list[int], list[int], list[int]]:
    """The prompt, a continuation that copies its code block with edits, and one that
    copies nothing. All ids are distinct (and far from the special tokens) except where
    the continuation copies the block."""
    generator = torch.Generator().manual_seed(seed)
    pool = (torch.randperm(VOCAB - 1_000, generator=generator) + 1_000).tolist()
    system, code, instruction = (sizes[k] for k in ("system", "code", "instruction"))
    prompt = pool[: system + code + instruction]
    block = prompt[system : system + code]
    fresh = iter(pool[len(prompt) :])
    copy = [next(fresh) if i % EDIT_EVERY == EDIT_EVERY - 1 else t for i, t in enumerate(block)]
    while len(copy) < new_tokens:
        copy += copy[:code]
    nothing = [next(fresh) for _ in range(new_tokens)]
    return prompt, copy[:new_tokens], nothing


class ForwardCounter:
    """Counts the model's forward passes (prompt lookup verifies several tokens in one)."""

    def __init__(self, model: Any) -> None:
        self.calls = 0
        self.handle = model.register_forward_pre_hook(self._count)

    def _count(self, *_: object) -> None:
        self.calls += 1


def decode_rate(
    model: Any, hw: Hardware, prompt: list[int], continuation: list[int], options: Any, **extra: Any
) -> tuple[float, float]:
    """Median tokens/s of generating `continuation` after `prompt`, and new tokens per
    forward after the prompt's."""
    ids = torch.tensor([prompt], device=hw.device)
    force = ForceContinuation(prompt + continuation)
    new = len(continuation)

    def generate(tokens: int) -> torch.Tensor:
        out: torch.Tensor = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=tokens,  # the forced tokens exclude the end token: no early stop
            do_sample=False,
            logits_processor=[force],
            pad_token_id=0,
            **extra,
        )
        if out[0, len(prompt) :].tolist() != continuation[:tokens]:
            raise RuntimeError("generate did not follow the forced continuation")
        return out

    compiled = extra.get("cache_implementation") == "static"
    for _ in range(max(options.warmup, 2) if compiled else options.warmup):
        generate(new)
    # (not under compile: dynamo would trace the hook and recompile at every count)
    counter = None if compiled else ForwardCounter(model)
    forwards = 0
    rates = []
    for _ in range(options.runs):
        first = timed(hw.device, lambda: generate(1))
        calls_before = counter.calls if counter else 0
        full = timed(hw.device, lambda: generate(new))
        forwards = counter.calls - calls_before if counter else new
        rates.append((new - 1) / max(full - first, 1e-9))
    if counter:
        counter.handle.remove()
    return statistics.median(rates), (new - 1) / max(forwards - 1, 1)


def verification_cost(
    model: Any, hw: Hardware, prompt: list[int], block: int, options: Any
) -> float:
    """Median time of one forward of `block` new tokens after the prompt, in seconds."""
    import copy

    from transformers import DynamicCache

    ids = torch.tensor([prompt], device=hw.device)
    prefilled = DynamicCache(config=model.config)
    new = torch.randint(1_000, VOCAB, (1, block), device=hw.device)

    def forward(cache: Any) -> None:
        model(new, cache=cache, use_cache=True, logits_to_keep=block)

    with torch.no_grad():
        model(ids, cache=prefilled, use_cache=True, logits_to_keep=1)
        times = []
        for _ in range(options.warmup + options.runs + 2):
            cache = copy.deepcopy(prefilled)  # the forward appends to it
            times.append(timed(hw.device, functools.partial(forward, cache)))
    return statistics.median(times[options.warmup :])


def decode_section(model: Any, hw: Hardware, options: Any) -> list[Row]:
    from transformers import CompileConfig

    params = weights_used_per_token(model)
    prompt, copy, nothing = edit_prompt(TINY_PROMPT if options.tiny else PROMPT, options.new_tokens)
    config = model.config
    mean_context = len(prompt) + options.new_tokens / 2
    kv_bytes = 2 * config.n_layer * (config.n_embd // config.n_head) * mean_context
    bytes_per_token = (params + kv_bytes) * model.dtype.itemsize
    bound = hw.bandwidth_tbs * 1e12 / bytes_per_token if hw.bandwidth_tbs else None
    rows = [
        Row(
            "decode",
            "bandwidth bound (one token per read of the weights)",
            bound,
            "tokens/s",
            note=f"{bytes_per_token / 1e9:.3g} GB read per token"
            + (f" at {hw.bandwidth_tbs} TB/s" if hw.bandwidth_tbs else "; bandwidth unknown"),
            figures={"bytes_per_token": bytes_per_token},
        )
    ]

    def row(name: str, rate: float | None, note: str, **figures: float) -> Row:
        share = rate / bound if rate is not None and bound else None
        built = Row("decode", name, rate, "tokens/s", share, "bandwidth bound", note, figures)
        log(f"decode: {format_row(built)}")  # in case a later part runs out of time
        return built

    prompt_note = f"prompt {len(prompt)} tokens, {options.new_tokens} new"
    log(f"decode: eager, {prompt_note}")
    eager, _ = decode_rate(model, hw, prompt, copy, options, disable_compile=True)
    rows.append(row("eager (dynamic cache)", eager, prompt_note))

    lookup = {"prompt_lookup_num_tokens": options.lookup_tokens, "disable_compile": True}
    for name, continuation in (("edit copies the block", copy), ("nothing to copy", nothing)):
        log(f"decode: prompt lookup, {name}")
        rate, per_forward = decode_rate(model, hw, prompt, continuation, options, **lookup)
        note = f"{per_forward:.2f} tokens per forward; {rate / eager:.2f}× eager"
        rows.append(
            row(
                f"prompt lookup ({options.lookup_tokens} tokens), {name}",
                rate,
                note,
                tokens_per_forward=per_forward,
                vs_eager=rate / eager,
            )
        )

    drafts = options.lookup_tokens
    log(f"decode: a forward of {drafts + 1} tokens against one of 1")
    one = verification_cost(model, hw, prompt, 1, options)
    block = verification_cost(model, hw, prompt, drafts + 1, options)
    rows.append(
        row(
            f"prompt lookup ceiling: all {drafts} drafts accepted",
            (drafts + 1) / block,
            f"a forward of {drafts + 1} tokens takes {block / one:.2f}× one of 1 token "
            f"({block * 1e3:.2f} vs {one * 1e3:.2f} ms); no generate overhead",
            verify_cost_ratio=block / one,
        )
    )

    log("decode: static cache + compile (the first runs compile)")
    compile_config = CompileConfig()
    if hw.device.type != "cuda":
        # inductor on a CPU takes minutes; dynamo's eager backend still traces the whole path
        compile_config = CompileConfig(backend="eager", mode="default")
        compile_config._compile_all_devices = True  # type: ignore[assignment]
    name = "static cache + torch.compile"
    if not getattr(model, "_can_compile_fullgraph", False):
        rows.append(row(name, None, "unsupported: the model does not declare compile support"))
        return rows
    torch._dynamo.utils.counters.clear()
    try:
        static = {
            "cache_implementation": "static",
            "compile_config": compile_config,
            # one cache size for the 1-token and the N-token runs: no recompilation between them
            "max_cache_len": len(prompt) + options.new_tokens,
        }
        rate, _ = decode_rate(model, hw, prompt, copy, options, **static)
    except Exception as error:  # a transformers/torch version without this path: say so
        rows.append(row(name, None, f"unsupported: {type(error).__name__}: {str(error)[:200]}"))
        return rows
    if not hasattr(model, "_compiled_call"):
        rows.append(row(name, None, "unsupported: generate ran the static cache uncompiled"))
        return rows
    backend = compile_config.backend if isinstance(compile_config.backend, str) else "custom"
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]  # more than 1: recompiled
    note = f"{backend}, mode {compile_config.mode}, {graphs} graph(s); {rate / eager:.2f}× eager"
    if hw.device.type != "cuda":
        note += " (CPU: checks the path, not the speed)"
    rows.append(row(name, rate, note, vs_eager=rate / eager, graphs=graphs))
    return rows


# ----------------------------------------------------------------------------- engine

ENGINE_MODEL: dict[str, Any] = {"n_embd": 512, "n_layer": 6, "seed": 6}
"""The engine section's model: small (the section checks the server's paths on this
device, with figures beside each other, not the hardware's limits). Its seed makes greedy
decoding answer the section's question with visible text, in float32 at least (with other
seeds a random model may write only tokens that decode to nothing, and "same text" would
compare empty strings; each row says how long the text was)."""
TINY_ENGINE_MODEL: dict[str, Any] = {"n_embd": 64, "n_layer": 2, "seed": 7}


def engine_section(hw: Hardware, options: Any) -> list[Row]:
    """The server's own engine (engine/transformers_engine.py) on this device."""
    import tempfile

    sys.path.insert(0, str(REPO))
    from tests.tiny_model import build_tiny_starchat

    shape = TINY_ENGINE_MODEL if options.tiny else ENGINE_MODEL
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = build_tiny_starchat(Path(tmp) / "model", fim=True, **shape)
        return asyncio.run(engine_rows(str(model_dir), hw, options))


def engine_row(name: str, value: float | None, unit: str, note: str, **figures: float) -> Row:
    row = Row("engine", name, value, unit, note=note, figures=figures)
    log(f"engine: {format_row(row)}")
    return row


async def engine_rows(model_dir: str, hw: Hardware, options: Any) -> list[Row]:
    from starchat.engine import (
        CacheSlot,
        CompletionRequest,
        EngineSettings,
        GenerationRequest,
        Sampling,
        collect,
    )
    from starchat.engine.transformers_engine import TransformersEngine
    from starchat.prompts import Message

    device = "cuda" if hw.device.type == "cuda" else "cpu"
    engine = TransformersEngine(EngineSettings(model=model_dir, device=device))
    await engine.load()
    log(f"engine: {engine.health().device}")
    code = "\n".join(f"def scale_{i}(x):\n    return x * {i} + {i}\n" for i in range(30))
    question: list[Message] = [
        {"role": "user", "content": f"Explain this code:\n```python\n{code}```"}
    ]
    greedy = Sampling(max_new_tokens=options.new_tokens, temperature=0.0)
    rows = []

    async def ask(messages: Any, **extra: Any) -> Any:
        answer = await collect(engine.generate(GenerationRequest(messages, greedy, **extra)))
        assert answer.usage is not None
        return answer

    await ask(question)  # warm-up
    plain = await ask(question)
    rate = plain.usage.tokens_per_s or 0.0
    first_ms = (plain.usage.time_to_first_token_s or 0.0) * 1e3
    rows.append(
        engine_row(
            "chat answer (eager)", rate, "tokens/s",
            f"{plain.usage.generated_tokens} tokens after a {plain.usage.prompt_tokens}-token "
            f"prompt; first after {first_ms:.0f} ms",
            first_token_ms=first_ms,
        )
    )  # fmt: skip

    looked = await ask(question, lookup=True)
    lookup_rate = looked.usage.tokens_per_s or 0.0
    rows.append(
        engine_row(
            "chat answer, prompt lookup", lookup_rate, "tokens/s",
            f"same text as eager ({len(plain.text)} characters): {looked.text == plain.text}; "
            f"×{lookup_rate / rate:.2f} eager",
            same=float(looked.text == plain.text),
        )
    )  # fmt: skip

    slot = CacheSlot("bench", 1024)
    first = await ask(question, cache=slot)
    follow: list[Message] = [
        *question,
        {"role": "assistant", "content": first.text},
        {"role": "user", "content": "Why?"},
    ]
    reused = await ask(follow, cache=slot)
    fresh = await ask(follow)
    reused_ms = (reused.usage.time_to_first_token_s or 0.0) * 1e3
    fresh_ms = (fresh.usage.time_to_first_token_s or 0.0) * 1e3
    rows.append(
        engine_row(
            "follow-up, keys and values kept", reused_ms, "ms to first token",
            f"{reused.usage.cached_tokens} of {reused.usage.prompt_tokens} prompt tokens "
            f"reused; {fresh_ms:.0f} ms without; same text: {reused.text == fresh.text}",
            cached_tokens=reused.usage.cached_tokens, without_ms=fresh_ms,
        )
    )  # fmt: skip

    completion = CompletionRequest(
        "<fim_prefix>def add(a, b):\n    return<fim_suffix>\n<fim_middle>",
        stop=("<|endoftext|>",),
        sampling=Sampling(max_new_tokens=16, temperature=0.0),
    )

    async def complete_ms() -> float:
        started = time.perf_counter()
        await collect(engine.complete(completion))
        return (time.perf_counter() - started) * 1e3

    await complete_ms()
    idle_ms = statistics.median([await complete_ms() for _ in range(options.runs)])
    # As long an answer as the window leaves room for, consumed as the server does.
    long = Sampling(max_new_tokens=engine.context_window, temperature=0.0)
    ended: list[float] = []
    chat = asyncio.ensure_future(collect(engine.generate(GenerationRequest(question, long))))
    chat.add_done_callback(lambda _: ended.append(time.perf_counter()))
    await asyncio.sleep(0.05)
    busy_ms = statistics.median([await complete_ms() for _ in range(options.runs)])
    completions_ended = time.perf_counter()
    streamed = await chat
    streaming = ended[0] > completions_ended
    assert streamed.usage is not None
    rows.append(
        engine_row(
            "completion beside a chat answer", busy_ms, "ms",
            f"{idle_ms:.0f} ms idle (×{busy_ms / idle_ms:.2f}); the chat answer "
            f"({streamed.usage.generated_tokens} tokens) still streaming after them: {streaming}",
            idle_ms=idle_ms,
        )
    )  # fmt: skip
    await engine.close()

    compiled = TransformersEngine(EngineSettings(model=model_dir, device=device, compile=True))
    started = time.perf_counter()
    await compiled.load()
    load_s = time.perf_counter() - started
    why = compiled.health().message
    if why:
        rows.append(engine_row("compiled decoding (compile: true)", None, "tokens/s",
                               f"unsupported: {why}"))  # fmt: skip
    else:
        answer = await collect(compiled.generate(GenerationRequest(question, greedy)))
        assert answer.usage is not None
        compiled_rate = answer.usage.tokens_per_s or 0.0
        rows.append(
            engine_row(
                "compiled decoding (compile: true)", compiled_rate, "tokens/s",
                f"×{compiled_rate / rate:.2f} eager; loaded and compiled in {load_s:.0f} s; "
                f"same text as eager: {answer.text == plain.text}",
                vs_eager=compiled_rate / rate,
            )
        )  # fmt: skip
    await compiled.close()
    return rows


# ----------------------------------------------------------------------------- prefill


def prefill_section(model: Any, hw: Hardware, options: Any) -> list[Row]:
    tokens = options.prefill_tokens
    ids = torch.randint(1_000, VOCAB, (1, tokens), device=hw.device)
    config = model.config
    per_token = sum(p.numel() for p in model.transformer.h.parameters())
    flops = 2 * per_token * tokens + 2 * config.n_layer * tokens**2 * config.n_embd
    flops += 2 * VOCAB * config.n_embd  # the output layer, for the last position only

    def forward() -> None:
        with torch.no_grad():
            model(ids, logits_to_keep=1)

    forward()
    seconds = statistics.median(timed(hw.device, forward) for _ in range(options.runs + 2))
    share = flops / seconds / (hw.peak_tflops * 1e12) if hw.peak_tflops else None
    note = f"{tokens / seconds:,.0f} tokens/s; {flops / 1e12:.3g} TFLOP"
    figures = {"tokens_per_s": tokens / seconds, "flops": flops}
    row = Row("prefill", f"prefill, {tokens:,} tokens", seconds * 1e3, "ms", share, "bf16 peak")
    row.note, row.figures = note, figures
    log(f"prefill: {format_row(row)}")
    return [row]


# ----------------------------------------------------------------------------- train


def read_recipe() -> dict[str, Any]:
    import yaml

    recipe: dict[str, Any] = yaml.safe_load(RECIPE.read_text(encoding="utf-8"))
    return recipe


def zero3_config(recipe: dict[str, Any], micro: int, accum: int, hidden: int, bf16: bool) -> dict:
    """The recipe's DeepSpeed config with "auto" filled as transformers' Trainer fills it
    (integrations/deepspeed.py) for one process."""
    config = json.loads((RECIPE.parent / recipe["deepspeed"]).read_text(encoding="utf-8"))
    auto = {
        "train_micro_batch_size_per_gpu": micro,
        "gradient_accumulation_steps": accum,
        "train_batch_size": micro * accum,
        "gradient_clipping": float(recipe.get("max_grad_norm", 1.0)),
    }
    for key, value in auto.items():
        if config.get(key) == "auto":
            config[key] = value
    config["bf16"]["enabled"] = bf16
    config["fp16"]["enabled"] = False
    zero = config["zero_optimization"]
    for key, value in {
        "reduce_bucket_size": hidden * hidden,
        "stage3_prefetch_bucket_size": int(0.9 * hidden * hidden),
        "stage3_param_persistence_threshold": 10 * hidden,
    }.items():
        if zero.get(key) == "auto":
            zero[key] = value
    left = [k for k, v in {**config, **zero}.items() if v == "auto"]
    if left:
        raise ValueError(f"DeepSpeed config keeps 'auto' for {left}")
    config["zero_allow_untested_optimizer"] = True  # torch's AdamW, as the Trainer passes it
    return config


def single_process_distributed(device: torch.device) -> None:
    import deepspeed

    if torch.distributed.is_initialized():
        return
    for key, value in {"RANK": "0", "LOCAL_RANK": "0", "WORLD_SIZE": "1"}.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    if "MASTER_PORT" not in os.environ:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            os.environ["MASTER_PORT"] = str(probe.getsockname()[1])
    deepspeed.init_distributed(dist_backend="nccl" if device.type == "cuda" else "gloo")


def train_section(hw: Hardware, options: Any) -> list[Row]:
    try:
        import deepspeed
    except ImportError:
        return [Row("train", "ZeRO-3 training", None, "tokens/s", note="unavailable: no deepspeed")]

    recipe = read_recipe()
    shape = TINY if options.tiny else TRAIN_1B
    micro = 2 if options.tiny else int(recipe["per_device_train_batch_size"])
    accum = 1 if options.tiny else int(recipe["gradient_accumulation_steps"])
    length = 64 if options.tiny else int(recipe["max_length"])
    bf16 = bool(recipe["bf16"]) and hw.device.type == "cuda"
    if hw.device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = bool(recipe.get("tf32", False))

    # DeepSpeed still calls torch.distributed APIs that warn on every call
    warnings.filterwarnings(
        "ignore", message=r"`torch\.distributed\.\w+` is deprecated", category=FutureWarning
    )
    single_process_distributed(hw.device)
    model = build_model(shape, hw, getattr(torch, recipe.get("dtype", "float32")))
    params = weights_used_per_token(model)
    checkpointing = bool(recipe.get("activation_checkpointing", True))
    if checkpointing:
        # transformers 5 renamed gradient checkpointing; the default is non-reentrant either way
        enable = getattr(model, "activation_checkpointing_enable", None)
        (enable or model.gradient_checkpointing_enable)()
    model.config.use_cache = False
    model.train()
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=float(recipe["learning_rate"]),
        weight_decay=float(recipe.get("weight_decay", 0.0)),
        fused=hw.device.type == "cuda",
    )
    config = zero3_config(recipe, micro, accum, shape["n_embd"], bf16)
    engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=config)
    batch = torch.randint(1_000, VOCAB, (micro, length), device=engine.device)
    losses: list[float] = []

    def step() -> None:
        for _ in range(accum):
            loss = engine(input_ids=batch, labels=batch).loss
            engine.backward(loss)
            engine.step()
        losses.append(float(loss.detach()))

    log(f"train: {describe(shape, params)}, {micro}×{length} tokens × {accum} per step")

    def measured() -> None:
        for _ in range(options.train_steps):
            step()

    step()
    seconds = timed(hw.device, measured)
    tokens_per_s = options.train_steps * accum * micro * length / seconds
    attention = shape["n_layer"] * shape["n_embd"] * length
    model_flops = (6 * params + 12 * attention) * tokens_per_s
    passes = 4 if checkpointing else 3  # forward, backward (2×), and the recomputed forward
    hardware_flops = passes * (2 * params + 4 * attention) * tokens_per_s
    peak = hw.peak_tflops * 1e12 if hw.peak_tflops else None
    note = (
        f"{describe(shape, params)}; {'bf16' if bf16 else 'fp32'}, "
        f"{'' if checkpointing else 'no '}activation checkpointing, "
        f"{micro}×{length}×{accum} tokens per step, {options.train_steps} steps; "
        f"loss {losses[0]:.2f} → {losses[-1]:.2f}"
    )
    figures: dict[str, float] = {"params": params, "tokens_per_step": accum * micro * length}
    if peak:
        note += f"; HFU {hardware_flops / peak:.1%}"
        figures["hfu"] = hardware_flops / peak
    return [
        Row(
            "train",
            "ZeRO-3 training (starchat-alpha recipe settings)",
            tokens_per_s,
            "tokens/s",
            model_flops / peak if peak else None,
            "bf16 peak (MFU)",
            note,
            figures,
        )
    ]


# ----------------------------------------------------------------------------- report


def format_row(row: Row) -> str:
    value = f"{row.value:,.1f} {row.unit}" if row.value is not None else "—"
    share = f"{row.share:.1%} of {row.share_of}" if row.share is not None else "—"
    return f"{row.name} | {value} | {share} | {row.note}"


def table(rows: list[Row]) -> str:
    lines = ["| section | measurement | value | share | note |", "|---|---|---|---|---|"]
    lines += [f"| {row.section} | {format_row(row)} |" for row in rows]
    return "\n".join(lines)


def failed(section: str, error: Exception) -> Row:
    log(f"{section}: FAILED\n{traceback.format_exc()}")
    note = f"failed: {type(error).__name__}: {str(error)[:200]}"
    return Row(section, f"{section} (did not finish)", None, "", note=note)


def guarded(section: str, run: Callable[[], list[Row]]) -> list[Row]:
    """A part that fails leaves a row that says so; the other parts still run and print."""
    try:
        return run()
    except Exception as error:
        return [failed(section, error)]


def free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tiny", action="store_true", help="2-layer 64-wide models (CI, CPU)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated subset")
    parser.add_argument("--bandwidth-tbs", type=float, help="memory bandwidth, TB/s")
    parser.add_argument("--peak-tflops", type=float, help="dense bf16 peak, TFLOPs")
    parser.add_argument("--runs", type=int, help="measured runs per figure (3; --tiny 2)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured runs (compiled: ≥2)")
    parser.add_argument("--new-tokens", type=int, help="decode length (128; --tiny 24)")
    parser.add_argument("--lookup-tokens", type=int, default=10, help="prompt lookup drafts")
    parser.add_argument("--prefill-tokens", type=int, help="prefill length (2,000; --tiny 256)")
    parser.add_argument("--train-steps", type=int, help="measured optimizer steps (5; --tiny 2)")
    options = parser.parse_args()
    for name, full, tiny in (
        ("runs", 3, 2),
        ("new_tokens", 128, 24),
        ("prefill_tokens", 2_000, 256),
        ("train_steps", 5, 2),
    ):
        if getattr(options, name) is None:
            setattr(options, name, tiny if options.tiny else full)
    sections = [s.strip() for s in options.sections.split(",") if s.strip()]
    if unknown := set(sections) - set(SECTIONS):
        parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")

    hw = detect_hardware(options)
    if hw.device.type != "cuda" and not options.tiny:
        parser.error("the full benchmark needs a CUDA GPU; on a CPU run it with --tiny")
    budget: dict[str, float] = {} if options.tiny else dict(BUDGET)
    log(
        f"device {hw.name}; bandwidth {hw.bandwidth_tbs or '?'} TB/s, "
        f"bf16 peak {hw.peak_tflops or '?'} TFLOPs; sections {', '.join(sections)}"
    )
    torch.manual_seed(0)
    rows: list[Row] = []
    shape = TINY if options.tiny else STARCODER
    dtype = torch.bfloat16 if hw.device.type == "cuda" else torch.float32
    if "engine" in sections:
        # Loading models logs to stdout too, which is the table's
        with Section("engine", budget.get("engine")), contextlib.redirect_stdout(sys.stderr):
            rows += guarded("engine", functools.partial(engine_section, hw, options))
        free(hw.device)
    inference = [s for s in sections if s in ("decode", "prefill")]
    model_name = None
    if inference:
        with Section("build", budget.get("build")):
            try:
                model = build_model(shape, hw, dtype).eval()
            except Exception as error:
                rows += [failed(name, error) for name in inference]
                inference = []
            else:
                model_name = describe(shape, weights_used_per_token(model))
                log(f"build: {model_name}, {dtype}")
        for name in inference:
            part = decode_section if name == "decode" else prefill_section
            with Section(name, budget.get(name)):
                rows += guarded(name, functools.partial(part, model, hw, options))
        if inference:
            del model
        torch._dynamo.reset()
        free(hw.device)
    if "train" in sections:
        # DeepSpeed logs and prints to stdout, which is the table's
        with Section("train", budget.get("train")), contextlib.redirect_stdout(sys.stderr):
            rows += guarded("train", functools.partial(train_section, hw, options))
            log(f"train: {format_row(rows[-1])}")
        free(hw.device)
    total = time.perf_counter() - _START
    log(f"total {total:.0f} s" + ("" if options.tiny else f" (budget {sum(BUDGET.values())} s)"))

    print(table(rows))
    result = {
        "device": hw.name,
        "tiny": options.tiny,
        "model": model_name,
        "dtype": str(dtype).removeprefix("torch."),
        "bandwidth_tbs": hw.bandwidth_tbs,
        "peak_bf16_tflops": hw.peak_tflops,
        "seconds": round(time.perf_counter() - _START, 1),
        "rows": [asdict(r) for r in rows],
    }
    print(json.dumps(result))
    if any(row.note.startswith("failed") for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
