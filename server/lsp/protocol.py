"""JSON-RPC and the LSP lifecycle, strict where pygls is lenient.

Every JSON value from the wire goes through `receive`, which checks the envelope before
pygls sees it: a non-object or a bad envelope is answered with Invalid Request (-32600), a
request whose params do not match its method's type with Invalid Params (-32602) and its id
(pygls would answer nothing and leave the client waiting), a bad notification is dropped
with a log line, as JSON-RPC requires. The lifecycle follows the specification: requests
before `initialize` get ServerNotInitialized, a second `initialize` and requests after
`shutdown` get Invalid Request, `shutdown` cancels everything in flight, and `exit` ends the
connection (the transport decides whether the process ends too).

A session that requires a token (TCP) answers an `initialize` without the right
`initializationOptions.token` with an error and ends the connection. Lone UTF-16 surrogates
are handled before pygls sees a message (see surrogates.py).

Document synchronisation goes to the server's own `DocumentStore` (see documents.py), and
`workspace/executeCommand` runs the command as the request's own task so `$/cancelRequest`
reaches it.
"""

import hmac
import inspect
import logging
from collections.abc import Generator
from typing import Any, cast

import cattrs
from lsprotocol import types
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.protocol.json_rpc import JsonRPCNotification, JsonRPCRequestMessage
from starchat.server.lsp.errors import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    REQUEST_FAILED,
    SERVER_NOT_INITIALIZED,
    UserInputError,
    to_lsp_error,
)
from starchat.server.lsp.surrogates import lone_surrogate_at, replace_lone_surrogates

logger = logging.getLogger(__name__)


class StarChatProtocol(LanguageServerProtocol):
    exit_code: int | None = None
    """Set by `exit`: the connection is over (0 after a shutdown, 1 without)."""

    required_token: str | None = None
    """The token a client must send as `initializationOptions.token` (TCP); None: no token."""

    _initialize_seen = False

    @property
    def initialized(self) -> bool:
        """Whether `initialize` was accepted (with the token, where one is required)."""
        return self._initialize_seen

    # pygls caches these per instance in a class-level `lru_cache`, which keeps the last
    # sessions (and their documents) alive after their clients have gone.
    def get_message_type(self, method: str) -> type[Any] | None:  # type: ignore[override]
        return types.METHOD_TO_TYPES.get(method, (None,))[0]

    def get_result_type(self, method: str) -> type[Any] | None:  # type: ignore[override]
        return types.METHOD_TO_TYPES.get(method, (None, None))[1]

    # ---- receiving ---------------------------------------------------------------------

    def receive(self, data: object) -> None:
        """Handle one parsed JSON value from the client."""
        if not isinstance(data, dict):
            self.reply_error(
                None, INVALID_REQUEST, "expected a JSON object (batches are not supported)"
            )
            return
        msg_id = data.get("id")
        id_ok = isinstance(msg_id, int | str) and not isinstance(msg_id, bool)
        if data.get("jsonrpc") != "2.0":
            self.reply_error(msg_id if id_ok else None, INVALID_REQUEST, 'missing "jsonrpc": "2.0"')
            return
        if "method" in data:
            method, params = data["method"], data.get("params")
            problem = (
                "method must be a string"
                if not isinstance(method, str)
                else "params must be an object or an array"
                if params is not None and not isinstance(params, dict | list)
                else None
            )
            if "id" not in data:
                if problem is None:
                    self._receive_notification(method, _text_only(data, "params"))
                else:
                    logger.info("dropping a malformed notification: %s", problem)
            elif not id_ok:
                self.reply_error(None, INVALID_REQUEST, "id must be an integer or a string")
            elif problem is not None:
                self.reply_error(msg_id, INVALID_REQUEST, problem)
            else:
                self._receive_request(cast(int | str, msg_id), method, data)
        elif id_ok and ("result" in data or "error" in data):
            self._receive_response(cast(int | str, msg_id), _text_only(data, "result"))
        else:
            self.reply_error(
                msg_id if id_ok else None,
                INVALID_REQUEST,
                "neither a request (no method), a notification nor a response",
            )

    def _receive_request(self, msg_id: int | str, method: str, data: dict[str, Any]) -> None:
        if self._shutdown:
            self.reply_error(msg_id, INVALID_REQUEST, "the server is shutting down")
            return
        if method == types.INITIALIZE and self._initialize_seen:
            self.reply_error(msg_id, INVALID_REQUEST, "the server is already initialized")
            return
        if method != types.INITIALIZE and not self._initialize_seen:
            self.reply_error(msg_id, SERVER_NOT_INITIALIZED, "send initialize first")
            return
        if method == types.INITIALIZE and not self._admit(msg_id, data.get("params")):
            return
        where = lone_surrogate_at(data.get("params"))
        if where is not None:
            self.reply_error(
                msg_id,
                INVALID_PARAMS,
                f"invalid params for {method}: {where} holds a lone UTF-16 surrogate, which "
                "is not text",
            )
            return
        message = self._structure(data, method, JsonRPCRequestMessage)
        if isinstance(message, str):
            self.reply_error(msg_id, INVALID_PARAMS, f"invalid params for {method}: {message}")
            return
        if not hasattr(message, "id"):
            self.reply_error(
                msg_id, INVALID_REQUEST, f"{method} is a notification: send it without an id"
            )
            return
        self._initialize_seen = True
        self.handle_message(message)

    def _admit(self, msg_id: int | str, params: Any) -> bool:
        """Whether the client may start a session; if not, say why and end the connection."""
        if self.required_token is None:
            return True
        options = params.get("initializationOptions") if isinstance(params, dict) else None
        token = options.get("token") if isinstance(options, dict) else None
        if isinstance(token, str) and hmac.compare_digest(
            token.encode("utf-8", "surrogatepass"), self.required_token.encode()
        ):
            return True
        problem = "a wrong token" if isinstance(token, str) else "no token"
        logger.warning("refusing a client that sent %s", problem)
        self._send_data(
            {
                "jsonrpc": "2.0",
                "id": msg_id,
                "error": {
                    "code": REQUEST_FAILED,
                    "message": f"This StarChat server needs a token and the client sent "
                    f"{problem}: set initializationOptions.token to the token the server "
                    "printed when it started (or its STARCHAT_TOKEN)",
                    "data": {"code": "unauthorized", "retry": False},
                },
            }
        )
        self.exit_code = 1
        return False

    def _receive_notification(self, method: str, data: dict[str, Any]) -> None:
        if method != types.EXIT and (self._shutdown or not self._initialize_seen):
            logger.info(
                "dropping %s: the server is %s",
                method,
                "shutting down" if self._shutdown else "not initialized",
            )
            return
        message = self._structure(data, method, JsonRPCNotification)
        if method == types.CANCEL_REQUEST and not isinstance(message, str):
            cancelled = message.params.id
            if not isinstance(cancelled, int | str) or isinstance(cancelled, bool):
                message = "id must be an integer or a string"
        if isinstance(message, str):
            logger.info("dropping %s with invalid params: %s", method, message)
            return
        self.handle_message(message)

    def _receive_response(self, msg_id: int | str, data: dict[str, Any]) -> None:
        result_type = self._result_types.pop(msg_id, None)
        try:
            if "error" in data:
                error = self._converter.structure(data["error"], types.ResponseError)
                self._handle_response(msg_id, None, error)
            else:
                result = data["result"]
                if result_type is not None:
                    result = self._converter.structure(data, result_type).result
                self._handle_response(msg_id, result)
        except Exception as error:  # a malformed reply must still end the server's wait
            self._handle_response(
                msg_id, None, types.ResponseError(INVALID_PARAMS, f"malformed response: {error}")
            )

    def _structure(self, data: dict[str, Any], method: str, fallback: type) -> Any:
        """The typed message, or a sentence saying why the params do not fit. Methods
        lsprotocol does not know (`starchat/*`) keep their params as plain JSON (pygls would
        turn them into namedtuples, renaming keys that are not identifiers)."""
        message_type = self.get_message_type(method)
        if message_type is None:
            fields = {"method": method, "jsonrpc": "2.0", "params": data.get("params")}
            return fallback(id=data["id"], **fields) if "id" in data else fallback(**fields)
        try:
            return self._converter.structure(data, message_type)
        except cattrs.BaseValidationError as error:
            return "; ".join(cattrs.transform_error(error))[:500]
        except Exception as error:
            return f"{type(error).__name__}: {error}"[:500]

    def reply_error(self, msg_id: int | str | None, code: int, message: str) -> None:
        # Built by hand: lsprotocol's converter drops `"id": null`, which JSON-RPC requires.
        self._send_data(
            {"jsonrpc": "2.0", "id": msg_id, "error": {"code": code, "message": message}}
        )

    # ---- lifecycle ---------------------------------------------------------------------

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(
        self, params: types.InitializeParams
    ) -> Generator[Any, Any, types.InitializeResult]:
        result = yield from super().lsp_initialize(params)
        if result.capabilities.execute_command_provider is not None:
            result.capabilities.execute_command_provider.work_done_progress = True
        return result

    # The overrides below are coroutines or plain functions where pygls uses generators:
    # pygls runs any of the three, and only a coroutine is a task `$/cancelRequest` can stop.

    @lsp_method(types.SHUTDOWN)
    async def lsp_shutdown(self, *args: Any) -> None:  # type: ignore[override]
        self.cancel_in_flight()
        self._shutdown = True
        if (handler := self.fm.features.get(types.SHUTDOWN)) is not None:
            result = handler(*args)
            if inspect.isawaitable(result):
                await result

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any) -> None:  # type: ignore[override]
        self.exit_code = 0 if self._shutdown else 1

    def cancel_in_flight(self) -> int:
        """Cancel every running request but the current one; returns how many."""
        current = self.msg_id
        cancelled = 0
        for msg_id, future in list(self._request_futures.items()):
            if msg_id != current and not future.done() and future.cancel():
                cancelled += 1
        return cancelled

    # ---- documents: the server's own store, not pygls' workspace ------------------------

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> Any:
        return self._user_handler(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Any:
        return self._user_handler(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> Any:
        return self._user_handler(types.TEXT_DOCUMENT_DID_CLOSE, params)

    def _user_handler(self, method: str, params: Any) -> Any:
        """Run the feature's (synchronous) handler; the text must be current before the
        next message is read."""
        handler = self.fm.features.get(method)
        return handler(params) if handler is not None else None

    # ---- commands ----------------------------------------------------------------------

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    async def lsp_workspace__execute_command(  # type: ignore[override]
        self, params: types.ExecuteCommandParams
    ) -> Any:
        handler = self.fm.commands.get(params.command)
        if handler is None:
            raise to_lsp_error(UserInputError(f"unknown command {params.command!r}"))
        return await handler(params)


def _text_only(data: dict[str, Any], key: str) -> dict[str, Any]:
    """`data` with lone surrogates in `data[key]` replaced (nobody can be told they were there)."""
    if lone_surrogate_at(data.get(key)) is None:
        return data
    logger.info("replacing lone UTF-16 surrogates in %s", data.get("method", "a response"))
    return {**data, key: replace_lone_surrogates(data[key])}
