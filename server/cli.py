"""The `starchat` command: serve the language server, chat from a terminal, show prompts,
and (with the [train] extra) fine-tune and evaluate."""

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from starchat.engine import (
    Chunk,
    EngineError,
    EngineSettings,
    GenerationRequest,
    Sampling,
    Usage,
    create_engine,
)
from starchat.prompts import ACTIONS, ActionSlots, Message, render_action, render_starchat
from starchat.prompts import system_prompt as named_system_prompt


def _engine_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        help="Hub id or local directory (default: the offline SmolLM2-135M-Instruct); with "
        "--backend openai, the served model's name",
    )
    parser.add_argument("--backend", choices=["transformers", "openai"], default="transformers")
    parser.add_argument("--backend-url", help="OpenAI-compatible base URL (vLLM, TGI, llama.cpp)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"]
    )
    parser.add_argument(
        "--system",
        default="",
        help="system prompt: text, or a name from prompts/system/ (technical-assistant)",
    )


def _settings(args: argparse.Namespace) -> EngineSettings:
    return EngineSettings(
        model=args.model,
        backend=args.backend,
        backend_url=args.backend_url,
        device=args.device,
        dtype=args.dtype,
    )


def _opening(args: argparse.Namespace) -> list[Message]:
    text = named_system_prompt(args.system)
    return [{"role": "system", "content": text}] if text else []


def _progress(message: str) -> None:
    print(f"[starchat] {message}", file=sys.stderr, flush=True)


async def _answer(engine: object, messages: list[Message], sampling: Sampling) -> str:
    """Stream one answer to stdout; return its text."""
    parts: list[str] = []
    async for item in engine.generate(GenerationRequest(messages, sampling)):  # type: ignore[attr-defined]
        if isinstance(item, Chunk):
            parts.append(item.text)
            sys.stdout.write(item.text)
            sys.stdout.flush()
        elif isinstance(item, Usage):
            sys.stdout.write("\n")
            if item.dropped_messages:
                _progress(f"dropped the {item.dropped_messages} oldest messages to fit the window")
            rate = f", {item.tokens_per_s:.1f} tok/s" if item.tokens_per_s else ""
            _progress(f"{item.generated_tokens} tokens{rate} ({item.finish_reason})")
    return "".join(parts)


async def _chat(args: argparse.Namespace) -> int:
    sampling = Sampling(max_new_tokens=args.max_new_tokens, temperature=args.temperature)
    engine = create_engine(_settings(args), _progress)
    messages = _opening(args)
    try:
        await engine.load()
        if args.message is not None:
            if not args.message.strip():
                raise _UsageError("the message is empty")
            await _answer(engine, [*messages, {"role": "user", "content": args.message}], sampling)
            return 0
        _progress("interactive chat: Enter sends, Ctrl-C stops an answer, Ctrl-D quits")
        while True:
            try:
                line = await asyncio.to_thread(input, "you> ")
            except EOFError:
                return 0
            if not line.strip():
                continue
            messages.append({"role": "user", "content": line})
            try:
                answer = await _answer(engine, messages, sampling)
            except asyncio.CancelledError:
                answer = ""
            messages.append({"role": "assistant", "content": answer})
    finally:
        await engine.close()


class _UsageError(Exception):
    pass


def _prompt(args: argparse.Namespace) -> int:
    message = args.message
    if args.action:
        if not args.file:
            raise _UsageError("--action needs --file")
        path = Path(args.file)
        lines = path.read_text(encoding="utf-8").splitlines()
        first, last = args.lines or (1, len(lines))
        code = "\n".join(lines[first - 1 : last])
        language = _LANGUAGES.get(path.suffix, path.suffix.lstrip(".") or "text")
        slots = ActionSlots(language, str(path), code, module=path.stem)
        message = render_action(args.action, slots)
    if not message:
        raise _UsageError("give a MESSAGE, or --action with --file")
    messages = [*_opening(args), Message(role="user", content=message)]
    if args.format == "starchat":
        sys.stdout.write(render_starchat(messages))
    else:
        engine = create_engine(_settings(args), _progress)
        asyncio.run(engine.load())
        sys.stdout.write(engine.render_prompt(messages))
    sys.stdout.write("\n" if sys.stdout.isatty() else "")
    return 0


_LANGUAGES = {
    ".py": "python",
    ".js": "javascript",
    ".ts": "typescript",
    ".cpp": "cpp",
    ".c": "c",
    ".rs": "rust",
    ".go": "go",
    ".java": "java",
    ".html": "html",
}


def _line_range(text: str) -> tuple[int, int]:
    first, _, last = text.partition("-")
    return int(first), int(last or first)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="starchat", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    from starchat.server.serve import add_serve_arguments

    serve = commands.add_parser("serve", help="run the language server (stdio by default)")
    add_serve_arguments(serve)

    chat = commands.add_parser("chat", help="ask from the terminal; no MESSAGE: interactive")
    chat.add_argument("message", nargs="?", help="the question")
    _engine_arguments(chat)
    chat.add_argument("--max-new-tokens", type=int, help="answer length limit (default 256)")
    chat.add_argument("--temperature", type=float, help="0 for greedy; default per model")

    prompt = commands.add_parser("prompt", help="print the exact prompt that would be sent")
    prompt.add_argument("message", nargs="?", help="the question")
    prompt.add_argument(
        "--format",
        choices=["starchat", "model"],
        default="starchat",
        help="starchat: the StarChat dialogue format; model: what --model receives",
    )
    prompt.add_argument("--action", choices=list(ACTIONS), help="a code action's prompt")
    prompt.add_argument("--file", help="the source file for --action")
    prompt.add_argument("--lines", type=_line_range, help="line range for --action, e.g. 3-10")
    _engine_arguments(prompt)

    # Listed for --help; main() hands their command lines over before parsing.
    commands.add_parser("finetune", help="train a model (needs the [train] extra)")
    commands.add_parser("eval", help="evaluate a model (needs the [train] extra)")
    return parser


_DELEGATED = {
    "finetune": "starchat.finetune.cli",
    "eval": "starchat.finetune.evaluate.cli",
}
"""Commands whose whole command line (help included) belongs to another module."""


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] in _DELEGATED:
        import importlib

        try:
            module = importlib.import_module(_DELEGATED[arguments[0]])
        except ImportError as error:
            print(
                f"starchat: error: `starchat {arguments[0]}` needs the training extra "
                f"({error.name} is missing): pip install 'starchat-lsp[train]'",
                file=sys.stderr,
            )
            return 1
        return int(module.main(arguments[1:]))
    parser = _parser()
    args = parser.parse_args(arguments)
    try:
        if args.command == "serve":
            from starchat.server.serve import run_from_arguments

            run_from_arguments(args)
            return 0
        if args.command == "chat":
            return asyncio.run(_chat(args))
        if args.command == "prompt":
            return _prompt(args)
    except KeyboardInterrupt:
        return 130
    except (EngineError, _UsageError, OSError) as error:
        print(f"starchat: error: {error}", file=sys.stderr)
        return 1
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
