"""Model status: is the model loading, ready, or broken — and why.

`starchat/status` (request) answers `{state, model, device, message?}` at once, never waiting
for the model; the same object is sent as a `starchat/status` notification on every change,
so an editor's status bar follows loads and reloads. While the model loads, a work-done
progress bar shows what the loader is doing (converting, loading weights). A failed load is
also shown as an error message naming the setting to fix; the server keeps running.
"""

import asyncio
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from starchat.engine import Health
from starchat.server import methods
from starchat.server.lsp.errors import guarded
from starchat.server.lsp.progress import ProgressBar
from starchat.server.redaction import redact

if TYPE_CHECKING:
    from starchat.server.session import StarChatServer


def health_json(health: Health) -> dict[str, Any]:
    value: dict[str, Any] = {
        "state": health.state,
        "model": redact(health.model),
        "device": redact(health.device),
    }
    if health.message:
        value["message"] = redact(health.message)
    return value


class StatusReporter:
    """Tells one client about the model (a `ModelHost` listener)."""

    def __init__(self, ls: "StarChatServer") -> None:
        self._ls = ls
        self._bar: ProgressBar | None = None
        self._shown: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Future[None]] = set()
        self._error_shown: Health | None = None
        """The chat model's failure last shown (a status sent for another reason, such as
        the completion model, does not show it again)."""

    def on_status(self, health: Health) -> None:
        # A finished load's bar ends before the status says so: a client never sees "ready"
        # beside a running bar.
        if health.state != "loading" and self._bar is not None:
            done = (
                redact(f"{health.model} ready on {health.device}")
                if health.state == "ready"
                else "failed"
            )
            self._bar.end(done)
            self._bar = self._shown = None
        self._ls.protocol.notify(methods.STATUS, self._ls.status_json())
        if health.state == "loading" and self._bar is None:
            self._bar = ProgressBar(self._ls)
            self._shown = self._keep(
                self._bar.begin("StarChat", f"Loading {redact(health.model)}…")
            )
        if health.state != "error":
            self._error_shown = None
        elif health != self._error_shown:
            self._error_shown = health
            self._ls.show(
                f"StarChat could not load the model: {health.message}. Fix the "
                "starchat.model (or starchat.backend, starchat.backendUrl, starchat.device) "
                "setting; the server keeps running and loads the model again when a setting "
                "changes.",
                types.MessageType.Error,
            )

    def on_progress(self, message: str) -> None:
        if self._bar is not None and self._shown is not None and self._shown.done():
            self._bar.report(message, throttle=False)

    def _keep(self, work: Any) -> "asyncio.Future[None]":
        task: asyncio.Future[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def register(server: "StarChatServer") -> None:
    @server.feature(methods.STATUS)
    @guarded("status")
    def status(ls: "StarChatServer", params: Any) -> dict[str, Any]:
        return ls.status_json()
