"""Work-done progress: a progress bar in the editor for work that takes a while.

A request can bring its own `workDoneToken` (VS Code does for `workspace/executeCommand`);
otherwise, when the client declares `window.workDoneProgress`, the server creates a token with
`window/workDoneProgress/create`. Then: begin, reports, end. A cancellable bar's cancel
button (`window/workDoneProgress/cancel`) cancels the task doing the work. Clients without
progress support get nothing, and the work is the same.
"""

import asyncio
import time
import uuid
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from starchat.server.session import StarChatServer

_REPORT_INTERVAL_S = 0.25


class ProgressBar:
    def __init__(self, ls: "StarChatServer", token: types.ProgressToken | None = None) -> None:
        self._ls = ls
        self._token = token
        self._last_report = 0.0
        self._ended = False
        """Set by `end`: a bar ended while its token was still being created never shows."""

    async def begin(
        self, title: str, message: str | None = None, cancels: "asyncio.Task[object] | None" = None
    ) -> None:
        """Show the bar; with `cancels`, its cancel button cancels that task."""
        progress = self._ls.work_done_progress
        if self._token is None:
            if not self._ls.client_capability("window", "work_done_progress"):
                return
            token = f"starchat-{uuid.uuid4().hex}"
            try:
                await progress.create_async(token)
            except Exception:  # the client refused; work on without a bar
                return
            if self._ended:  # the work finished first: a bar now would outlive it
                return
            self._token = token
        progress.begin(
            self._token,
            types.WorkDoneProgressBegin(title, message=message, cancellable=cancels is not None),
        )
        if cancels is not None:
            progress.tokens[self._token].add_done_callback(
                lambda future: cancels.cancel() if future.cancelled() else None
            )

    def report(self, message: str, *, throttle: bool = True) -> None:
        now = time.monotonic()
        if self._token is None or (throttle and now - self._last_report < _REPORT_INTERVAL_S):
            return
        self._last_report = now
        self._ls.work_done_progress.report(
            self._token, types.WorkDoneProgressReport(message=message)
        )

    def end(self, message: str | None = None) -> None:
        """End the bar now (synchronously, so whatever is sent next comes after it)."""
        self._ended = True
        if self._token is not None:
            self._ls.work_done_progress.end(self._token, types.WorkDoneProgressEnd(message=message))
            self._ls.work_done_progress.tokens.pop(self._token, None)
            self._token = None
