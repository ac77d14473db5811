"""Taking turns on a device that cannot take work from two threads at once.

Two decodes can run at once in the server: a chat answer and an inline completion, each in
its own thread (server/model_host.py), on one model or on two. CUDA and the CPU take work from
several threads; Apple's MPS does not: two threads encoding Metal commands at the same time
abort the process ("A command encoder is already encoding to this command buffer",
pytorch/pytorch#197805). There, every piece of device work — a load, a decode — holds the
device's turn, and a decode hands the turn on after each step, first come first served: a
completion still runs beside a long chat answer, one step each in turn, and never two
threads' work at once.

Where threads may overlap, a chat answer still gives way (CompletionsFirst): ghost text is
wanted now, while a streaming answer pausing for a moment goes unseen. While a completion
decodes, the chat answer waits between its steps (at most a second per step, so a slow
completion model cannot stall it), and the completion has the device to itself.
"""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class Turns:
    """A first-come, first-served lock whose holder can let waiters go first between steps."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._next = 0
        """The ticket the next arrival draws."""
        self._serving = 0
        """The ticket whose holder may work now."""

    @contextmanager
    def held(self) -> Iterator[None]:
        self._acquire()
        try:
            yield
        finally:
            self._release()

    def pass_on(self) -> None:
        """Between two steps of the holder: everyone waiting takes a step first (returns at
        once when nobody waits)."""
        with self._changed:
            if self._next == self._serving + 1:
                return
        self._release()
        self._acquire()

    def _acquire(self) -> None:
        with self._changed:
            ticket = self._next
            self._next += 1
            while ticket != self._serving:
                self._changed.wait()

    def _release(self) -> None:
        with self._changed:
            self._serving += 1
            self._changed.notify_all()


class CompletionsFirst:
    """Completions decoding now; chat answers wait for them between steps."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._running = 0

    @contextmanager
    def completing(self) -> Iterator[None]:
        with self._changed:
            self._running += 1
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()

    def give_way(self, stopped: Callable[[], bool], limit_s: float = 1.0) -> None:
        """Between two steps of a chat answer: wait while a completion decodes, at most
        `limit_s`, or until `stopped()`."""
        with self._changed:
            wait_while(self._changed, lambda: self._running > 0, limit_s, stopped)


def wait_while(
    changed: threading.Condition,
    busy: Callable[[], bool],
    limit_s: float,
    stopped: Callable[[], bool],
) -> None:
    """With `changed` held: wait while `busy()`, at most `limit_s`, or until `stopped()` —
    a cancel, which does not notify `changed`, so it is looked at every 50 ms."""
    deadline = time.monotonic() + limit_s
    while busy() and not stopped():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        changed.wait(min(left, 0.05))


COMPLETIONS_FIRST = CompletionsFirst()
"""One for the process: a completion model loaded beside the chat model shares its device."""

_MPS = Turns()
"""One for the process: every engine on Apple's GPU shares the device."""


def turns_for(device: str) -> Turns | None:
    """The turns work on `device` must take, or None where threads may overlap."""
    return _MPS if device.startswith("mps") else None
