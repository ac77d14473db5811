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

from starchat.server.flags import add_engine_flags, engine_options
from starchat.server.lsp.transport import private_stdout, serve_stdio, serve_tcp
from starchat.server.model_host import ModelHost
from starchat.server.options import Options
from starchat.server.redaction import RedactingFilter
from starchat.server.session import StarChatServer

logger = logging.getLogger(__name__)


def serve(defaults: Options, host: str = "127.0.0.1", port: int | None = None) -> None:
    """Run the language server until the client exits (stdio) or forever (TCP); ends the
    process. `defaults` hold the command line's settings; editors override them over stdio."""
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
    host.configure_completion(defaults.completion_engine_settings())

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
    add_engine_flags(parser)
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )


def run_from_arguments(args: argparse.Namespace) -> None:
    configure_logging(args.log_level)
    try:
        defaults = engine_options(args)
    except ValueError as error:
        raise SystemExit(f"starchat serve: {error}") from None
    serve(defaults, args.host, args.tcp)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m starchat.server", description="The StarChat language server."
    )
    add_serve_arguments(parser)
    run_from_arguments(parser.parse_args(argv))
