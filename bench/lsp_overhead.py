"""What the language server costs: chat through LSP from another process vs the engine in
process, code-action latency on a large file, and four chats at once.

- Chat: the same model, prompt (system + question) and greedy decoding on both sides, runs
  alternating. In process: time from `generate()` to the first chunk, and decode rate
  (tokens - 1) / (last chunk - first chunk). Through LSP (a `python -m starchat.server`
  subprocess, this process as the client): time from sending `starchat/chat` to the first
  `$/progress` partial result, and the same rate from the arrival times of the partial
  results. Reported as the tokens/s ratio (LSP / in process) and the TTFT overhead.
- textDocument/codeAction round trips on a 5,000-line Python file (half with a diagnostic).
- Four chats sent at once: all complete, in arrival order (the model's FIFO queue).

    .venv/bin/python bench/lsp_overhead.py [--model default|tiny|DIR] [--runs 7] [--tokens 128]
"""

import argparse
import asyncio
import itertools
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from starchat.engine import Chunk, EngineSettings, GenerationRequest, Usage, create_engine
from starchat.prompts import Message
from starchat.server import methods
from starchat.server.options import Options

QUESTION = "Write a Python function that checks whether a number is prime."
# Two processes hold a model here (this one and the server) and take turns: OpenMP threads
# that spin after their work would steal the other's cores, so both wait passively.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}


class Client(LanguageClient):
    def __init__(self) -> None:
        super().__init__("lsp-overhead-bench", "1")
        self.arrivals: dict[str, list[float]] = {}
        self.ready = asyncio.Event()

        @self.feature(types.PROGRESS)
        def progress(ls: Client, params: types.ProgressParams) -> None:
            if isinstance(params.token, str) and params.token.startswith("chat-"):
                ls.arrivals.setdefault(params.token, []).append(time.perf_counter())

        @self.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def create(ls: Client, params: types.WorkDoneProgressCreateParams) -> None:
            return None

        @self.feature(methods.STATUS)
        def status(ls: Client, params: Any) -> None:
            if getattr(params, "state", None) == "ready":
                ls.ready.set()


def chat_messages(options: Options) -> list[Message]:
    return [
        {"role": "system", "content": options.system_text()},
        {"role": "user", "content": QUESTION},
    ]


async def in_process(engine: Any, options: Options) -> tuple[float, float, int]:
    started = time.perf_counter()
    stamps: list[float] = []
    usage: Usage | None = None
    async for item in engine.generate(
        GenerationRequest(chat_messages(options), options.sampling())
    ):
        if isinstance(item, Chunk):
            stamps.append(time.perf_counter())
        else:
            usage = item
    assert usage is not None
    return (
        stamps[0] - started,
        (usage.generated_tokens - 1) / (stamps[-1] - stamps[0]),
        usage.generated_tokens,
    )


async def through_lsp(client: Client, token: str) -> tuple[float, float, int, str]:
    started = time.perf_counter()
    result = await client.protocol.send_request_async(
        methods.CHAT, {"message": QUESTION, "partialResultToken": token}
    )
    stamps = client.arrivals[token]
    generated = result.usage.generatedTokens
    return stamps[0] - started, (generated - 1) / (stamps[-1] - stamps[0]), generated, result.text


def large_file(lines: int) -> str:
    blocks, count = [], 0
    while count < lines:
        blocks.append(
            f"def function_{count}(values):\n    total = 0\n    for v in values:\n"
            f"        total += v * {count}\n    return total\n\n"
        )
        count += 6
    return "".join(blocks)


async def code_action_latency(client: Client, lines: int, requests: int) -> list[float]:
    uri = "file:///bench/large.py"
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, "python", 1, large_file(lines)))
    )
    rng = random.Random(0)
    latencies = []
    for i in range(requests):
        line = rng.randrange(lines)
        where = types.Range(types.Position(line, 4), types.Position(line, 4))
        diagnostics = (
            [types.Diagnostic(where, "something is wrong", source="bench")] if i % 2 else []
        )
        started = time.perf_counter()
        await client.text_document_code_action_async(
            types.CodeActionParams(
                types.TextDocumentIdentifier(uri), where, types.CodeActionContext(diagnostics)
            )
        )
        latencies.append((time.perf_counter() - started) * 1e3)
    return latencies


async def four_at_once(client: Client) -> list[dict[str, float]]:
    tokens = [f"chat-queue-{i}-{time.monotonic_ns()}" for i in range(4)]
    started = time.perf_counter()
    requests = [
        client.protocol.send_request_async(
            methods.CHAT, {"message": f"{QUESTION} ({i})", "partialResultToken": t}
        )
        for i, t in enumerate(tokens)
    ]
    results = await asyncio.gather(*requests)
    return [
        {
            "first_chunk_s": client.arrivals[t][0] - started,
            "done_s": client.arrivals[t][-1] - started,
            "tokens": r.usage.generatedTokens,
        }
        for t, r in zip(tokens, results, strict=True)
    ]


def model_argument(value: str) -> str | None:
    if value == "default":
        return None
    if value == "tiny":
        sys.path.insert(0, str(Path(__file__).parents[1]))
        from tests.tiny_model import build_tiny_starchat

        return str(build_tiny_starchat(Path(tempfile.mkdtemp()) / "tiny"))
    return value


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model", default="default", help="default (offline SmolLM2), tiny, or a directory"
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--actions", type=int, default=1000)
    args = parser.parse_args()
    model = model_argument(args.model)
    settings = {"model": model or "", "temperature": 0.0, "maxNewTokens": args.tokens}
    options = Options.model_validate(settings)

    engine = create_engine(EngineSettings(model=model))
    await engine.load()
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

    await in_process(engine, options)  # warm-up: first-call costs on both sides
    await through_lsp(client, "chat-warmup")
    local: list[tuple[float, float, int]] = []
    remote: list[tuple[float, float, int, str]] = []
    for run in range(args.runs):
        local.append(await in_process(engine, options))
        remote.append(await through_lsp(client, f"chat-{run}"))
        print(f"run {run}: in process {local[-1][:2]}, LSP {remote[-1][:2]}", file=sys.stderr)
    assert len({r[2] for r in remote} | {r[2] for r in local}) == 1, (
        "both sides must decode the same tokens"
    )

    ttft_local = statistics.median(r[0] for r in local) * 1e3
    ttft_lsp = statistics.median(r[0] for r in remote) * 1e3
    rate_local = statistics.median(r[1] for r in local)
    rate_lsp = statistics.median(r[1] for r in remote)
    # Runs go in pairs, back to back: on a shared machine the median of per-pair figures
    # cancels out more of the other load than a ratio of medians.
    paired_rate = statistics.median(b[1] / a[1] for a, b in zip(local, remote, strict=True))
    paired_ttft = statistics.median((b[0] - a[0]) * 1e3 for a, b in zip(local, remote, strict=True))
    latencies = await code_action_latency(client, args.lines, args.actions)
    queue = await four_at_once(client)

    report = {
        "model": args.model,
        "tokens": local[0][2],
        "runs": args.runs,
        "ttft_in_process_ms": round(ttft_local, 2),
        "ttft_lsp_ms": round(ttft_lsp, 2),
        "ttft_overhead_ms": round(ttft_lsp - ttft_local, 2),
        "ttft_ratio": round(ttft_local / ttft_lsp, 3),
        "tokens_per_s_in_process": round(rate_local, 1),
        "tokens_per_s_lsp": round(rate_lsp, 1),
        "tokens_per_s_ratio": round(rate_lsp / rate_local, 3),
        "tokens_per_s_ratio_paired": round(paired_rate, 3),
        "ttft_overhead_paired_ms": round(paired_ttft, 2),
        "ttft_min_in_process_ms": round(min(r[0] for r in local) * 1e3, 2),
        "ttft_min_lsp_ms": round(min(r[0] for r in remote) * 1e3, 2),
        "code_action_p50_ms": round(percentile(latencies, 0.5), 2),
        "code_action_p99_ms": round(percentile(latencies, 0.99), 2),
        "code_action_requests": len(latencies),
        "four_chats": [{k: round(v, 3) for k, v in q.items()} for q in queue],
        "four_chats_in_order": all(
            a["done_s"] <= b["first_chunk_s"] for a, b in itertools.pairwise(queue)
        ),
    }
    print(
        f"model {args.model}, {report['tokens']} tokens, {args.runs} runs (medians)\n"
        f"  time to first chunk: in process {ttft_local:.1f} ms, LSP {ttft_lsp:.1f} ms "
        f"(overhead {ttft_lsp - ttft_local:+.1f} ms)\n"
        f"  decode: in process {rate_local:.1f} tok/s, LSP {rate_lsp:.1f} tok/s "
        f"(ratio {rate_lsp / rate_local:.3f}; median of paired runs {paired_rate:.3f}, "
        f"TTFT overhead {paired_ttft:+.1f} ms)\n"
        f"  codeAction on {args.lines} lines: p50 {report['code_action_p50_ms']} ms, "
        f"p99 {report['code_action_p99_ms']} ms\n"
        f"  four chats at once: "
        + ", ".join(f"{q['first_chunk_s']:.2f}–{q['done_s']:.2f} s" for q in queue)
        + f" (in order: {report['four_chats_in_order']})"
    )
    print(json.dumps(report))
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    await engine.close()


if __name__ == "__main__":
    asyncio.run(main())
