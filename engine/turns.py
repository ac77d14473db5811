"""Taking turns on a device that cannot take work from two threads at once.

Two decodes can run at once in the server: a chat answer and an inline completion, each in
its own thread (server/model_host.py), on one model or on two. CUDA and the CPU take work from
several threads; Apple's MPS does not: two threads encoding Metal commands at the same time
abort the process ("A command encoder is already encoding to this command buffer",
pytorch/pytorch#197805). There, every piece of device work — a load, a decode — holds the
device's turn, and a decode hands the turn on after each step, first come first served: a
completion still runs beside a long chat answer, one step each in turn, and never two
threads' work at once.
"""

import threading
from collections.abc import Iterator
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


_MPS = Turns()
"""One for the process: every engine on Apple's GPU shares the device."""


def turns_for(device: str) -> Turns | None:
    """The turns work on `device` must take, or None where threads may overlap."""
    return _MPS if device.startswith("mps") else None
