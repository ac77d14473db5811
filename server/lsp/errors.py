"""Every failure becomes one LSP error response, mapped here and nowhere else.

Like esbonio's features, each handler is guarded: a user's mistake (a document that is not
open, an empty message) is answered with InvalidParams and a sentence saying what to fix; an
engine failure keeps its stable code in `error.data.code`; anything unexpected is logged with
its traceback and answered as InternalError — the server keeps serving either way.
"""

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from starchat.engine import EngineError
from starchat.server.redaction import redact

logger = logging.getLogger(__name__)

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_NOT_INITIALIZED = -32002
REQUEST_FAILED = -32803
"""LSP 3.17: the request was valid but could not be carried out (model not loaded, backend
unreachable)."""

_ENGINE_ERRORS = {"bad_request": INVALID_PARAMS, "prompt_too_long": INVALID_PARAMS}
"""Engine error codes that blame the request; every other engine error is REQUEST_FAILED."""


class UserInputError(Exception):
    """A request the user or their editor got wrong; the message says what to change."""

    code = "invalid_params"
    lsp_code = INVALID_PARAMS


class DocumentNotOpenError(UserInputError):
    code = "document_not_open"


class RangeError(UserInputError):
    code = "invalid_range"


class UnknownConversationError(UserInputError):
    code = "unknown_conversation"


def to_lsp_error(error: Exception) -> JsonRpcException:
    """The one mapping from an exception to the error response the client receives."""
    if isinstance(error, JsonRpcException):
        return error
    if isinstance(error, UserInputError):
        return JsonRpcException(redact(str(error)), error.lsp_code, {"code": error.code})
    if isinstance(error, EngineError):
        code = _ENGINE_ERRORS.get(error.code, REQUEST_FAILED)
        return JsonRpcException(redact(str(error)), code, {"code": error.code})
    return JsonRpcException(
        redact(
            f"StarChat failed unexpectedly ({type(error).__name__}: {error}); see the server log"
        ),
        INTERNAL_ERROR,
        {"code": "internal_error"},
    )


Handler = TypeVar("Handler", bound=Callable[..., Any])


def guarded(feature: str, *, notification: bool = False) -> Callable[[Handler], Handler]:
    """Isolate a handler's failures: they become an error response (or, for a notification,
    a log line) instead of reaching the rest of the server."""

    def decorate(handler: Handler) -> Handler:
        def fail(ls: LanguageServer, error: Exception) -> Any:
            if isinstance(error, UserInputError | EngineError | JsonRpcException):
                logger.info("%s: %s", feature, error)
            else:
                logger.exception("%s failed", feature)
                ls.window_log_message(
                    types.LogMessageParams(
                        types.MessageType.Error, redact(f"StarChat {feature} failed: {error!r}")
                    )
                )
            if notification:
                return None
            raise to_lsp_error(error) from error

        if asyncio.iscoroutinefunction(handler):

            @functools.wraps(handler)
            async def run_async(ls: LanguageServer, *args: Any) -> Any:
                try:
                    return await handler(ls, *args)
                except Exception as error:
                    return fail(ls, error)

            return run_async  # type: ignore[return-value]

        @functools.wraps(handler)
        def run(ls: LanguageServer, *args: Any) -> Any:
            try:
                return handler(ls, *args)
            except Exception as error:
                return fail(ls, error)

        return run  # type: ignore[return-value]

    return decorate
