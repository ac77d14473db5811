"""Faster answers on the same model: prompt-lookup decoding and key/value reuse, measured.

Same process, same loaded model, greedy decoding, runs alternating (this machine is noisy):

1. Rewrites: Improve and Fix on real functions from the standard library (`textwrap`,
   `shlex`, `json.decoder`), prompts built the way the server builds them
   (`editor_context` + `render_action`), decoded with and without prompt lookup. Reported:
   decode tokens/s of each and their ratio, and whether the answers are identical.
2. A follow-up after a ~150-line selection: "Explain this code" with the selection, then
   "Why is it written this way?" in the same conversation, with and without the previous
   turn's key/value cache. Reported: time to the first chunk of the follow-up, and the ratio.
3. Typing: inline completions at each keystroke of a new line at the end of a file, with and
   without the document's cache. Reported: median latency of each and the ratio.

    .venv/bin/python bench/decode_speed.py [--model DIR] [--runs 3] [--tokens 96]
"""

import argparse
import asyncio
import inspect
import json
import shlex
import statistics
import sys
import textwrap
import time
from json import decoder
from pathlib import Path
from typing import Any

from lsprotocol import types
from starchat.engine import CacheSlot, Chunk, EngineSettings, GenerationRequest, Sampling, Usage
from starchat.engine.transformers_engine import TransformersEngine
from starchat.prompts import Message, render_action
from starchat.server.actions import action_slots
from starchat.server.completions import Budget, complete, resolve_format
from starchat.server.context import editor_context
from starchat.server.documents import Document
from starchat.server.options import Options

FUNCTIONS = [textwrap.dedent, textwrap.indent, shlex.join, shlex.quote, decoder.py_scanstring]


async def timed(engine: TransformersEngine, request: GenerationRequest) -> dict[str, Any]:
    started = time.perf_counter()
    first = last = None
    text = ""
    usage: Usage | None = None
    async for item in engine.generate(request):
        if isinstance(item, Chunk):
            last = time.perf_counter()
            first = first or last
            text += item.text
        else:
            usage = item
    assert usage is not None and first is not None and last is not None
    rate = (usage.generated_tokens - 1) / (last - first) if last > first else 0.0
    return {"text": text, "ttft": first - started, "rate": rate, "usage": usage}


def action_messages(action: str, function: Any, system: str) -> list[Message]:
    source = inspect.getsource(function)
    path = Path(inspect.getsourcefile(function) or "module.py")
    document = Document(path.as_uri(), source, 0, "python")
    end = types.Position(len(source.splitlines()), 0)
    _, context = editor_context(document, types.Range(types.Position(0, 0), end), [], [])
    slots, _ = action_slots(document.uri, context)
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": render_action(action, slots)},
    ]


async def rewrites(
    engine: TransformersEngine, system: str, tokens: int, runs: int
) -> dict[str, Any]:
    sampling = Sampling(max_new_tokens=tokens, temperature=0.0)
    plain_rates, fast_rates, identical, total = [], [], 0, 0
    for run in range(runs):
        for function in FUNCTIONS:
            for action in ("improve", "fix"):
                messages = action_messages(action, function, system)
                plain = await timed(engine, GenerationRequest(messages, sampling))
                fast = await timed(engine, GenerationRequest(messages, sampling, lookup=True))
                plain_rates.append(plain["rate"])
                fast_rates.append(fast["rate"])
                identical += plain["text"] == fast["text"]
                total += 1
        print(f"rewrites run {run}: {total} answers so far", file=sys.stderr)
    ratios = [b / a for a, b in zip(plain_rates, fast_rates, strict=True) if a]
    return {
        "answers": total,
        "identical": identical,
        "plain_tokens_per_s": round(statistics.median(plain_rates), 1),
        "lookup_tokens_per_s": round(statistics.median(fast_rates), 1),
        "ratio_median_of_pairs": round(statistics.median(ratios), 2),
    }


async def follow_up(
    engine: TransformersEngine, system: str, tokens: int, runs: int
) -> dict[str, Any]:
    source = Path(textwrap.__file__).read_text(encoding="utf-8").splitlines()
    selection = "\n".join(source[250:400])  # ~150 lines of TextWrapper's methods
    first_question = f"Explain this code:\n```python\n{selection}\n```"
    sampling = Sampling(max_new_tokens=tokens, temperature=0.0)
    without, with_cache, cached = [], [], []
    for run in range(runs):
        for reuse in (False, True):
            slot = CacheSlot(f"conversation-{run}-{reuse}", 1024) if reuse else None
            messages: list[Message] = [
                {"role": "system", "content": system},
                {"role": "user", "content": first_question},
            ]
            first = await timed(engine, GenerationRequest(messages, sampling, cache=slot))
            messages += [
                {"role": "assistant", "content": first["text"]},
                {"role": "user", "content": "Why is it written this way?"},
            ]
            second = await timed(engine, GenerationRequest(messages, sampling, cache=slot))
            (with_cache if reuse else without).append(second["ttft"])
            if reuse:
                cached.append(second["usage"].cached_tokens / second["usage"].prompt_tokens)
    return {
        "selection_lines": 150,
        "follow_up_ttft_ms": round(statistics.median(without) * 1e3, 1),
        "follow_up_ttft_cached_ms": round(statistics.median(with_cache) * 1e3, 1),
        "sooner": round(statistics.median(without) / statistics.median(with_cache), 2),
        "prompt_share_cached": round(statistics.median(cached), 3),
    }


async def typing(engine: TransformersEngine) -> dict[str, Any]:
    text = Path(shlex.__file__).read_text(encoding="utf-8")
    line = "    result = quote(split(command)[0]) + join(arguments)"
    fmt = resolve_format("auto", engine, engine.health().model)
    options = Options()
    budget = Budget(options.completion_prefix_tokens, options.completion_suffix_tokens, 16)
    latencies: dict[bool, list[float]] = {False: [], True: []}
    for end in range(8, len(line), 4):
        for reuse in (False, True):
            slot = CacheSlot("completion:shlex.py", 1024) if reuse else None
            started = time.perf_counter()
            await complete(engine, fmt, text + line[:end], "\n", "shlex.py", budget, cache=slot)
            latencies[reuse].append(time.perf_counter() - started)
    plain, cached = (statistics.median(latencies[k][1:]) for k in (False, True))
    return {
        "keystrokes": len(latencies[True]),
        "format": fmt.name if fmt else None,
        "completion_ms": round(plain * 1e3, 1),
        "completion_cached_ms": round(cached * 1e3, 1),
        "sooner": round(plain / cached, 2),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a local model directory (default: the offline model)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=96)
    args = parser.parse_args()
    engine = TransformersEngine(EngineSettings(model=args.model))
    await engine.load()
    system = Options().system_text()
    await timed(
        engine, GenerationRequest([{"role": "user", "content": "Hi"}], Sampling(max_new_tokens=4))
    )
    report: dict[str, Any] = {"model": engine.health().model}
    for name, section in (
        ("rewrites", rewrites(engine, system, args.tokens, args.runs)),
        ("follow_up", follow_up(engine, system, args.tokens, args.runs)),
        ("typing", typing(engine)),
    ):
        report[name] = await section
        print(f"{name}: {json.dumps(report[name])}", file=sys.stderr, flush=True)
    r, f, t = report["rewrites"], report["follow_up"], report["typing"]
    print(
        f"model {report['model']}\n"
        f"  rewrites ({r['answers']} Improve/Fix answers on {len(FUNCTIONS)} stdlib functions): "
        f"{r['plain_tokens_per_s']} → {r['lookup_tokens_per_s']} tokens/s with prompt lookup "
        f"(median of pairs ×{r['ratio_median_of_pairs']}), "
        f"identical {r['identical']}/{r['answers']}\n"
        f"  follow-up after a 150-line selection: first chunk {f['follow_up_ttft_ms']} ms → "
        f"{f['follow_up_ttft_cached_ms']} ms with the cache (×{f['sooner']} sooner; "
        f"{f['prompt_share_cached']:.0%} of the prompt reused)\n"
        f"  typing ({t['keystrokes']} keystrokes, {t['format'] or 'left to right'}): "
        f"{t['completion_ms']} ms → {t['completion_cached_ms']} ms per completion (×{t['sooner']})"
    )
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main())
