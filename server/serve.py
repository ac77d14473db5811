"""Starting the StarChat language server: `starchat serve` and `python -m starchat.server`.

stdio by default, TCP with a port. Over TCP each client gets a fresh session and all share
the one model, which the operator chooses on the command line and which loads at start.
Every TCP client must send the server's token as `initializationOptions.token`: it comes
from `STARCHAT_TOKEN`, or is generated and printed once, to stderr, at start. Listening on
an address other than loopback prints a warning. Logging goes to stderr, because stdout is
the protocol's; passwords in URLs are hidden there too.
"""

import argparse
import asyncio
import ipaddress
import logging
import os
import secrets
import sys
from collections.abc import Sequence
from typing import Any

from starchat.server.lsp.transport import private_stdout, serve_stdio, serve_tcp
from starchat.server.model_host import ModelHost
from starchat.server.options import Options, apply_settings
from starchat.server.redaction import RedactingFilter
from starchat.server.session import StarChatServer

logger = logging.getLogger(__name__)


def serve(host: str = "127.0.0.1", port: int | None = None, **settings: object) -> None:
    """Run the language server until the client exits (stdio) or forever (TCP); ends the
    process. `settings` are option names (`model`, `backend`, `backend_url`, `device`, …)
    given on the command line; None means not given. Editors override them."""
    given = {key: value for key, value in settings.items() if value is not None}
    update = apply_settings(Options(), given)
    if update.errors or update.ignored:
        raise SystemExit(
            "starchat serve: "
            + "; ".join(update.errors + [f"unknown option {k}" for k in update.ignored])
        )
    defaults = update.options
    loop = asyncio.new_event_loop()
    if port is None:
        code = loop.run_until_complete(_serve_stdio(defaults))
    else:
        code = 0
        try:
            loop.run_until_complete(_serve_tcp(defaults, host, port))
        except KeyboardInterrupt:
            logger.info("stopped")
    logging.shutdown()
    # Not sys.exit: that would wait for a model still loading in a worker thread.
    os._exit(code)


async def _serve_stdio(defaults: Options) -> int:
    host = ModelHost()
    session = StarChatServer(host, defaults)
    try:
        return await serve_stdio(session, sys.stdin.buffer, private_stdout())
    finally:
        await host.close()


async def _serve_tcp(defaults: Options, address: str, port: int) -> None:
    token = os.environ.get("STARCHAT_TOKEN") or _new_token()
    host = ModelHost()
    host.configure(defaults.engine_settings())

    def listening(addresses: list[tuple[Any, ...]]) -> None:
        for bound in addresses:
            logger.warning("StarChat language server listening on %s:%d", bound[0], bound[1])
            if not ipaddress.ip_address(bound[0]).is_loopback:
                logger.warning(
                    "%s is not a loopback address: other machines can reach this server, and "
                    "the token is all that keeps them out (the connection is not encrypted). "
                    "Prefer --host 127.0.0.1 with an SSH tunnel.",
                    bound[0],
                )

    try:
        await serve_tcp(
            lambda: StarChatServer(host, defaults, tcp_token=token), address, port, listening
        )
    finally:
        await host.close()


def _new_token() -> str:
    token = secrets.token_urlsafe(24)
    print(
        f"StarChat: clients must send initializationOptions.token = {token!r} "
        "(set STARCHAT_TOKEN to choose the token yourself)",
        file=sys.stderr,
        flush=True,
    )
    return token


def configure_logging(level: str) -> None:
    """Log to stderr (stdout is the protocol's). pygls' own records are kept for debugging:
    it logs every request error with a traceback, which would bury user mistakes."""
    logging.basicConfig(
        stream=sys.stderr,
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactingFilter())
    if level.lower() != "debug":
        logging.getLogger("pygls").setLevel(logging.CRITICAL)


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """The `serve` command line, shared by `starchat serve` and `python -m starchat.server`."""
    parser.add_argument(
        "--tcp", type=int, metavar="PORT", help="listen on TCP (0: any free port) instead of stdio"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="TCP address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--model", help="Hub id or local directory (default: the offline model)")
    parser.add_argument(
        "--backend", choices=["transformers", "openai"], help="where generation runs"
    )
    parser.add_argument("--backend-url", help="base URL of an OpenAI-compatible server")
    parser.add_argument("--device", help="auto, cpu, mps, cuda or cuda:N")
    parser.add_argument("--dtype", choices=["auto", "bfloat16", "float16", "float32"])
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )


def run_from_arguments(args: argparse.Namespace) -> None:
    configure_logging(args.log_level)
    serve(
        args.host,
        args.tcp,
        model=args.model,
        backend=args.backend,
        backend_url=args.backend_url,
        device=args.device,
        dtype=args.dtype,
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m starchat.server", description="The StarChat language server."
    )
    add_serve_arguments(parser)
    run_from_arguments(parser.parse_args(argv))
