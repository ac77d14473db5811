"""Running untrusted template code with a time limit, in the calling thread.

A chat template comes with the model directory and is Jinja, compiled to Python: a template
with a long loop would hold the thread (and every request queued behind it) indefinitely.
Tracing the template's own frames line by line lets us stop it at its deadline; other code
is traced only at calls, so an honest render costs little more.
"""

import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

from starchat.engine.base import EngineError

T = TypeVar("T")

_TEMPLATE_FILE = "<template>"
"""The file name Jinja gives the Python code it compiles templates to."""


class DeadlineExceededError(EngineError):
    code = "template_timeout"


def within_deadline(seconds: float, work: Callable[[], T], what: str) -> T:
    """`work()`, or DeadlineExceededError once it has run `seconds` inside template code."""
    deadline = time.monotonic() + seconds

    def trace(frame: FrameType, event: str, arg: Any) -> Any:
        if time.monotonic() > deadline:
            raise DeadlineExceededError(
                f"{what} took longer than {seconds:g} s to render; it was stopped"
            )
        return trace if frame.f_code.co_filename == _TEMPLATE_FILE else None

    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        return work()
    finally:
        sys.settrace(previous)
