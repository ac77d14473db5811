"""A scripted engine for unit tests of scheduling and budgeting (never the proof of a feature:
the real engines have their own tests on a real tiny model and a real HTTP endpoint).

Tokens are words: a prompt's tokens are the words of its messages plus two per message. Its
answer is `answer` (default: the model's name), one word per chunk. Every load, generation
and close is written to the shared `log`, so a test can read the order things happened in.
"""

import asyncio
from collections.abc import AsyncGenerator, Callable

from starchat.engine import (
    Chunk,
    EngineError,
    EngineSettings,
    GenerationRequest,
    Health,
    Usage,
)
from starchat.prompts import Message


class FakeEngine:
    def __init__(
        self,
        settings: EngineSettings,
        log: list[str],
        *,
        window: int = 1000,
        fails: dict[str, EngineError] | None = None,
        load_gate: asyncio.Event | None = None,
    ) -> None:
        self.name = settings.model or "default"
        self.log = log
        self.window = window
        self.fails = {} if fails is None else fails
        """Models that fail to load, with their error; read at each load, so a test can
        change it (a backend coming up)."""
        self.load_gate = load_gate
        self.requests: list[GenerationRequest] = []
        self.state: Health = Health("loading", self.name, "fake")

    @property
    def context_window(self) -> int:
        return self.window

    def health(self) -> Health:
        return self.state

    async def load(self) -> None:
        self.log.append(f"load {self.name}")
        if self.load_gate is not None:
            await self.load_gate.wait()
        failure = self.fails.get(self.name)
        if failure is not None:
            self.state = Health("error", self.name, "fake", str(failure))
            raise failure
        self.state = Health("ready", self.name, "fake")

    def count_tokens(self, messages: list[Message], prefix: str = "") -> int:
        return sum(len(m["content"].split()) + 2 for m in messages) + len(prefix.split())

    def render_prompt(self, messages: list[Message], prefix: str = "") -> str:
        turns = [f"{m['role']}: {m['content']}" for m in messages]
        return "\n".join([*turns, f"assistant: {prefix}"] if prefix else turns)

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[Chunk | Usage, None]:
        self.requests.append(request)
        self.log.append(f"generate {self.name}")
        words = self.name.split()
        for word in words:
            await asyncio.sleep(0)
            yield Chunk(word)
        yield Usage(
            self.count_tokens(request.messages, request.prefix), len(words), None, None, "stop"
        )

    async def close(self) -> None:
        self.log.append(f"close {self.name}")


def factory(
    log: list[str],
    *,
    fails: dict[str, EngineError] | None = None,
    load_gate: asyncio.Event | None = None,
) -> Callable[[EngineSettings, Callable[[str], None]], FakeEngine]:
    """A ModelHost engine factory: a model named in `fails` fails to load with its error."""

    def create(settings: EngineSettings, _progress: Callable[[str], None]) -> FakeEngine:
        return FakeEngine(settings, log, fails=fails, load_gate=load_gate)

    return create
