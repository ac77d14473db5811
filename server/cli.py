"""The `starchat` command: serve the language server, chat from a terminal, show prompts,
and (with the [train] extra) fine-tune and evaluate."""

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from lsprotocol import types
from starchat.engine import (
    Engine,
    EngineError,
    Sampling,
    create_engine,
)
from starchat.engine.sampling import DEFAULT_MAX_NEW_TOKENS
from starchat.prompts import ACTIONS, Message, render_action, render_starchat
from starchat.prompts import system_prompt as named_system_prompt
from starchat.prompts.completion import shape_at
from starchat.server.actions import action_slots
from starchat.server.completions import around, completion_request, resolve_format
from starchat.server.context import editor_context, relative_path
from starchat.server.conversations import Conversation
from starchat.server.documents import Document
from starchat.server.flags import add_engine_flags, engine_options
from starchat.server.index.workspace import WorkspaceIndex
from starchat.server.references import (
    DEFAULT_REFERENCE_TOKENS,
    add_references,
    definitions_used,
    related,
)
from starchat.server.turns import Budget, answer_turn, plan_turn


def _engine(args: argparse.Namespace) -> Engine:
    try:
        options = engine_options(args)
    except ValueError as error:
        raise _UsageError(str(error)) from error
    return create_engine(options.engine_settings(), _progress)


def _progress(message: str) -> None:
    print(f"[starchat] {message}", file=sys.stderr, flush=True)


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


async def _answer(
    engine: Engine, conversation: Conversation, question: str, args: argparse.Namespace
) -> None:
    """Stream one answer to stdout, fitted to the window like the server's (turns.py)."""
    budget = Budget.of(engine, args.max_new_tokens or DEFAULT_MAX_NEW_TOKENS)
    system = named_system_prompt(args.system)
    turn = await asyncio.to_thread(
        plan_turn, engine, conversation, system, lambda _count, _budget: question, budget
    )
    if turn.dropped:
        _progress(f"dropped the {turn.dropped} oldest messages to fit the window")
    sampling = Sampling(temperature=args.temperature)
    answer = await answer_turn(engine, conversation, turn, sampling, _write)
    _write("\n")
    usage = answer.usage
    rate = f", {usage.tokens_per_s:.1f} tok/s" if usage.tokens_per_s else ""
    _progress(f"{usage.generated_tokens} tokens{rate} ({usage.finish_reason})")


async def _chat(args: argparse.Namespace) -> int:
    engine = _engine(args)
    conversation = Conversation("terminal")
    try:
        await engine.load()
        if args.message is not None:
            if not args.message.strip():
                raise _UsageError("the message is empty")
            await _answer(engine, conversation, args.message, args)
            return 0
        _progress("interactive chat: Enter sends, Ctrl-C stops an answer, Ctrl-D quits")
        while True:
            try:
                line = await asyncio.to_thread(input, "you> ")
            except EOFError:
                return 0
            if line.strip():
                with contextlib.suppress(asyncio.CancelledError):
                    await _answer(engine, conversation, line, args)
    finally:
        await engine.close()


class _UsageError(Exception):
    pass


STARCHAT_WINDOW = 8192
"""StarChat's context window: the budget `starchat prompt` assumes without a model."""


def _action_prompt(action: str, file: str, lines: tuple[int, int] | None) -> tuple[str, str]:
    """A code action's user turn for lines of a file, built as the server builds it, and
    the code it is about."""
    path = Path(file).resolve()
    document = Document(path.as_uri(), path.read_text(encoding="utf-8"), 0, "")
    range_ = None
    if lines is not None:
        first, last = lines
        range_ = types.Range(types.Position(first - 1, 0), types.Position(last, 0))
    _, context = editor_context(document, range_, [Path.cwd().as_uri()], [])
    slots, _ = action_slots(document.uri, context)
    return render_action(action, slots), context.code


def _cursor(text: str) -> tuple[Path, int, int]:
    """`FILE:LINE:COLUMN` (1-based, as editors show them)."""
    file, line, column = [*text.rsplit(":", 2), "", ""][:3]
    if not (line.isdigit() and column.isdigit()) or int(line) < 1 or int(column) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: use FILE:LINE:COLUMN, e.g. app.py:12:5")
    return Path(file), int(line), int(column)


def _completion_prompt(args: argparse.Namespace) -> int:
    """The exact prompt an inline completion at FILE:LINE:COLUMN sends to the model."""
    path, line, column = args.complete
    try:
        options = engine_options(args)
    except ValueError as error:
        raise _UsageError(str(error)) from error
    document = Document(path.resolve().as_uri(), path.read_text(encoding="utf-8"), 0, "")
    if line > document.line_count:
        raise _UsageError(f"{path} has {document.line_count} lines, not {line}")
    start = document.line_start(line - 1)
    cursor = min(start + column - 1, document.index.line_end(line - 1))
    settings = options.completion_engine_settings() or options.engine_settings()
    engine = create_engine(settings, _progress)
    asyncio.run(engine.load())
    fmt = resolve_format(options.fim_format, engine, engine.health().model)
    budget = options.completion_budget()
    prefix, suffix = around(document.text, cursor, cursor, budget)
    request = completion_request(
        engine, fmt, prefix, suffix, relative_path(document.uri, [Path.cwd().as_uri()]), budget
    )
    shape = shape_at(document.text[:cursor], document.text[cursor:])
    _progress(
        f"{engine.health().model}: "
        + (f"fill-in-the-middle ({fmt.name})" if fmt else "left to right (no FIM tokens)")
        + (", a block" if shape.multiline else ", one line")
    )
    sys.stdout.write(request.prompt)
    return 0


def _prompt(args: argparse.Namespace) -> int:
    if args.complete:
        return _completion_prompt(args)
    message, code = args.message, ""
    if args.action:
        if not args.file:
            raise _UsageError("--action needs --file")
        message, code = _action_prompt(args.action, args.file, args.lines)
    if not message:
        raise _UsageError("give a MESSAGE, or --action with --file")
    system = named_system_prompt(args.system)
    head: list[Message] = [{"role": "system", "content": system}] if system else []
    render: Callable[[list[Message]], str] = render_starchat
    count: Callable[[list[Message]], int] = lambda messages: len(render(messages)) // 4  # noqa: E731
    window = STARCHAT_WINDOW
    if args.format == "model":
        engine = _engine(args)
        asyncio.run(engine.load())
        render, count, window = engine.render_prompt, engine.count_tokens, engine.context_window
    if args.workspace:
        budget = Budget(window, DEFAULT_MAX_NEW_TOKENS).prompt
        message = _with_references(args, message, code, head, count, budget)
    sys.stdout.write(render([*head, {"role": "user", "content": message}]))
    sys.stdout.write("\n" if sys.stdout.isatty() else "")
    return 0


def _with_references(
    args: argparse.Namespace,
    user: str,
    code: str,
    head: list[Message],
    count: Callable[[list[Message]], int],
    budget: int,
) -> str:
    """`user` with the workspace references the server would add, named on stderr."""
    root = Path(args.workspace).resolve()
    if not root.is_dir():
        raise _UsageError(f"--workspace {args.workspace}: no such folder")
    index = WorkspaceIndex([root])
    index.build()
    skip = [Path(args.file).resolve()] if args.file else []
    found = definitions_used(index, code, skip) if code else []
    found += [r for r in related(index, user, skip) if r not in found]
    user, kept = add_references(
        user,
        found,
        lambda text: count([*head, {"role": "user", "content": text}]),
        budget,
        args.workspace_tokens,
    )
    status = index.status()
    shown = ", ".join(f"{r.path}:{r.first_line}-{r.last_line}" for r in kept) or "none"
    _progress(f"workspace: {status.files} files, {status.chunks} chunks; references: {shown}")
    return user


def _line_range(text: str) -> tuple[int, int]:
    first, _, last = text.partition("-")
    return int(first), int(last or first)


def _question_arguments(parser: argparse.ArgumentParser) -> None:
    add_engine_flags(parser)
    parser.add_argument(
        "--system",
        default="",
        help="system prompt: text, or a name from prompts/system/ (technical-assistant); "
        "default none, as StarChat's model card",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="starchat", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    from starchat.server.serve import add_serve_arguments

    serve = commands.add_parser("serve", help="run the language server (stdio by default)")
    add_serve_arguments(serve)

    chat = commands.add_parser("chat", help="ask from the terminal; no MESSAGE: interactive")
    chat.add_argument("message", nargs="?", help="the question")
    _question_arguments(chat)
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
    prompt.add_argument(
        "--complete",
        type=_cursor,
        metavar="FILE:LINE:COLUMN",
        help="an inline completion's prompt at a cursor (1-based line and column); loads "
        "--completion-model, else --model, for its tokenizer",
    )
    prompt.add_argument(
        "--workspace",
        metavar="DIR",
        help="add the references the server's workspace index finds in DIR (token counts "
        "are estimated at 4 characters a token unless --format model)",
    )
    prompt.add_argument(
        "--workspace-tokens",
        type=int,
        default=DEFAULT_REFERENCE_TOKENS,
        help=f"most tokens the references may take (default {DEFAULT_REFERENCE_TOKENS})",
    )
    _question_arguments(prompt)

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
