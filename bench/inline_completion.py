"""What inline completion costs through the language server, and while a chat answer streams.

Cursors are taken in real code nobody here wrote (the standard library's `textwrap.py`): in
each chosen line, after 60% of its characters, as if the user had paused typing there.
For each cursor, greedy decoding, the same model on both sides, runs alternating:

- In process: `server.completions.complete()` on the engine — cut, render, decode, trim.
- Through LSP: `textDocument/inlineCompletion` to a `python -m starchat.server` subprocess,
  from this process, request to response.

Reported: p50/p95 latency of each and the paired difference, and the throughput ratio (total
in-process time / total LSP time: 1.0 means the server adds nothing). Then the same LSP
requests while a long chat answer streams on the same model (the completion runs beside it,
never queued behind it): p50/p95 and the ratio to idle. Last, cancel: a long completion is
stopped after a few chunks; the time until the engine is free (in process: `aclose()`
returns once the decode thread has ended) and until the LSP client has its "cancelled"
answer. Then typing, in process: a character typed while the completion before it is still
working (asked half its cold time later, superseded, stopping at its next token); the newer
completion's time when it waits for the document's cache the older one holds (the server
now) vs when it encodes on its own beside it (before: the cache was out, so it started
cold).

    .venv/bin/python bench/inline_completion.py [--model fim|default|DIR] [--cursors 20]
"""

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.client import LanguageClient
from starchat.engine import (
    CacheSlot,
    CompletionRequest,
    EngineSettings,
    Sampling,
    create_engine,
)
from starchat.server import methods
from starchat.server.completions import Budget, complete, resolve_format

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # two processes take turns on the cores
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}
SOURCE = Path(textwrap.__file__)
URI = "file:///bench/textwrap.py"


class Client(LanguageClient):
    def __init__(self) -> None:
        super().__init__("inline-completion-bench", "1")
        self.chunks = 0
        self.ready = asyncio.Event()

        @self.feature(types.PROGRESS)
        def progress(ls: Client, params: types.ProgressParams) -> None:
            ls.chunks += 1

        @self.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def create(ls: Client, params: types.WorkDoneProgressCreateParams) -> None:
            return None

        @self.feature(methods.STATUS)
        def status(ls: Client, params: Any) -> None:
            if getattr(params, "state", None) == "ready":
                ls.ready.set()


def cursors(text: str, count: int) -> list[tuple[int, int, int]]:
    """(line, character, offset) after 60% of evenly spread lines of code."""
    lines = text.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)
    code = [
        i
        for i, line in enumerate(lines)
        if len(line.strip()) > 20 and not line.strip().startswith(("#", '"', "'"))
    ]
    chosen = code[:: max(1, len(code) // count)][:count]
    result = []
    for index in chosen:
        line = lines[index]
        character = len(line) - len(line.lstrip()) + int(len(line.strip()) * 0.6)
        result.append((index, character, starts[index] + character))
    return result


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def params(line: int, character: int) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(URI),
        position=types.Position(line, character),
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Automatic
        ),
    )


async def through_lsp(client: Client, line: int, character: int) -> tuple[float, str]:
    started = time.perf_counter()
    result = await client.text_document_inline_completion_async(params(line, character))
    elapsed = time.perf_counter() - started
    items = result.items if isinstance(result, types.InlineCompletionList) else []
    text = items[0].insert_text if items else ""
    return elapsed, text if isinstance(text, str) else text.value


def model_argument(value: str) -> str | None:
    if value == "default":
        return None
    if value == "fim":
        sys.path.insert(0, str(Path(__file__).parents[1]))
        from tests.tiny_model import build_tiny_fim

        return str(build_tiny_fim(Path(tempfile.mkdtemp()) / "fim"))
    return value


async def cancel_in_process(engine: Any, prompt: str) -> float:
    """Ms from `aclose()` on a long completion, after 5 chunks, until the engine is free."""
    request = CompletionRequest(prompt, sampling=Sampling(max_new_tokens=1024, temperature=0.0))
    stream = engine.complete(request)
    seen = 0
    async for _ in stream:
        seen += 1
        if seen == 5:
            break
    started = time.perf_counter()
    await stream.aclose()
    return (time.perf_counter() - started) * 1e3


async def keystroke(
    engine: Any, fmt: Any, text: str, offset: int, budget: Budget, shared: bool, delay: float
) -> float:
    """Ms until the completion after one more typed character, asked `delay` s after the
    one at `offset` (which it supersedes). `shared`: both use the document's cache slot, as
    the server does; else the newer one has a slot of its own (encodes from scratch)."""
    key = f"typing:{offset}:{shared}"
    superseded = False
    older = asyncio.ensure_future(
        complete(
            engine, fmt, text[:offset], text[offset:], SOURCE.name, budget,
            stop_early=lambda: superseded, cache=CacheSlot(key, 1024),
        )
    )  # fmt: skip
    await asyncio.sleep(delay)
    superseded = True
    started = time.perf_counter()
    await complete(
        engine, fmt, text[: offset + 1], text[offset + 1 :], SOURCE.name, budget,
        cache=CacheSlot(key if shared else f"{key}:own", 1024),
    )  # fmt: skip
    took = (time.perf_counter() - started) * 1e3
    await older
    return took


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="fim", help="fim (tiny, taught), default, or a dir")
    parser.add_argument("--cursors", type=int, default=20)
    args = parser.parse_args()
    model = model_argument(args.model)
    text = SOURCE.read_text(encoding="utf-8")
    points = cursors(text, args.cursors)
    budget = Budget()
    settings = {"model": model or "", "temperature": 0.0, "maxNewTokens": 4000}

    engine = create_engine(EngineSettings(model=model))
    await engine.load()
    fmt = resolve_format("auto", engine, engine.health().model)
    client = Client()
    await client.start_io(
        sys.executable, "-m", "starchat.server", "--log-level", "warning", env=ENV
    )
    await client.initialize_async(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(
                window=types.WindowClientCapabilities(work_done_progress=True)
            ),
            initialization_options=settings,
        )
    )
    client.initialized(types.InitializedParams())
    await asyncio.wait_for(client.ready.wait(), 300)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(URI, "python", 1, text))
    )

    async def in_process(offset: int) -> tuple[float, str]:
        started = time.perf_counter()
        infill, _ = await complete(engine, fmt, text[:offset], text[offset:], "textwrap.py", budget)
        return time.perf_counter() - started, infill.text if infill else ""

    await in_process(points[0][2])  # warm-up on both sides
    await through_lsp(client, *points[0][:2])
    local, remote = [], []
    for line, character, offset in points:
        local.append(await in_process(offset))
        remote.append(await through_lsp(client, line, character))
    same = sum(a[1] == b[1] for a, b in zip(local, remote, strict=True))

    chat = asyncio.wrap_future(
        client.protocol.send_request(
            methods.CHAT,
            {"message": "Tell me about Python.", "partialResultToken": "busy"},
            msg_id="busy",
        )
    )
    while client.chunks < 3:
        await asyncio.sleep(0.01)
    busy = []
    for line, character, _ in points:
        busy.append(await through_lsp(client, line, character))
        if chat.done():
            break
    chat_still_streaming = not chat.done()
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="busy"))
    with contextlib.suppress(JsonRpcException):
        await chat

    prompt = engine.cut(text[: points[-1][2]], 512, "end")
    frees = [await cancel_in_process(engine, prompt) for _ in range(5)]
    cancels = []
    for run in range(5):
        request = client.protocol.send_request(
            types.TEXT_DOCUMENT_INLINE_COMPLETION, params(*points[-1][:2]), msg_id=f"c{run}"
        )
        await asyncio.sleep(0.15)
        started = time.perf_counter()
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=f"c{run}"))
        with contextlib.suppress(JsonRpcException):
            await asyncio.wrap_future(request)
        cancels.append((time.perf_counter() - started) * 1e3)

    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()

    typing_points = points[: max(3, len(points) // 4)]
    cold_ms = statistics.median(t * 1e3 for t, _ in local)
    shared_ms, own_ms = [], []
    for _, _, offset in typing_points:  # alternating, so drift hits both alike
        shared_ms.append(await keystroke(engine, fmt, text, offset, budget, True, cold_ms / 2e3))
        own_ms.append(await keystroke(engine, fmt, text, offset, budget, False, cold_ms / 2e3))

    lat_local = [t * 1e3 for t, _ in local]
    lat_lsp = [t * 1e3 for t, _ in remote]
    lat_busy = [t * 1e3 for t, _ in busy]
    added = [b - a for a, b in zip(lat_local, lat_lsp, strict=True)]
    report = {
        "model": args.model,
        "format": fmt.name if fmt else None,
        "cursors": len(points),
        "same_text": same,
        "in_process_p50_ms": round(percentile(lat_local, 0.5), 1),
        "in_process_p95_ms": round(percentile(lat_local, 0.95), 1),
        "lsp_p50_ms": round(percentile(lat_lsp, 0.5), 1),
        "lsp_p95_ms": round(percentile(lat_lsp, 0.95), 1),
        "added_ms_median": round(statistics.median(added), 1),
        "throughput_ratio": round(sum(lat_local) / sum(lat_lsp), 3),
        "busy_p50_ms": round(percentile(lat_busy, 0.5), 1),
        "busy_p95_ms": round(percentile(lat_busy, 0.95), 1),
        "busy_ratio_p50": round(percentile(lat_busy, 0.5) / percentile(lat_lsp, 0.5), 2),
        "busy_requests": len(busy),
        "chat_still_streaming": chat_still_streaming,
        "cancel_to_free_engine_ms": round(statistics.median(frees), 1),
        "cancel_to_lsp_answer_ms": round(statistics.median(cancels), 1),
        "typing_keystrokes": len(typing_points),
        "typing_shared_cache_p50_ms": round(percentile(shared_ms, 0.5), 1),
        "typing_own_cache_p50_ms": round(percentile(own_ms, 0.5), 1),
        "typing_speedup": round(sum(own_ms) / sum(shared_ms), 2),
    }
    print(
        f"model {args.model} ({report['format'] or 'left to right'}), {len(points)} cursors "
        f"in {SOURCE.name}, same text both sides: {same}/{len(points)}\n"
        f"  in process: p50 {report['in_process_p50_ms']} ms, "
        f"p95 {report['in_process_p95_ms']} ms\n"
        f"  LSP: p50 {report['lsp_p50_ms']} ms, p95 {report['lsp_p95_ms']} ms "
        f"(added, median of pairs: {report['added_ms_median']:+} ms; "
        f"throughput ratio {report['throughput_ratio']})\n"
        f"  while a chat answer streams: p50 {report['busy_p50_ms']} ms, "
        f"p95 {report['busy_p95_ms']} ms ({report['busy_ratio_p50']}× idle; "
        f"chat still streaming after {len(busy)} completions: {chat_still_streaming})\n"
        f"  cancel: engine free in {report['cancel_to_free_engine_ms']} ms, "
        f"LSP answer in {report['cancel_to_lsp_answer_ms']} ms\n"
        f"  a keystroke while the completion before it works ({len(typing_points)} "
        f"keystrokes): p50 {report['typing_shared_cache_p50_ms']} ms waiting for its cache "
        f"vs {report['typing_own_cache_p50_ms']} ms encoding beside it "
        f"({report['typing_speedup']}× sooner in total)"
    )
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main())
