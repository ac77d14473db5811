"""The one model the server hosts: background loading, status, and a first-come queue.

A GPU holds one model and decodes one answer at a time, so every generation goes through one
FIFO lock (`asyncio.Lock` wakes waiters in order): four chats sent at once are answered one
after another, in the order they arrived, none starved. Loading is a job in the same queue:
a settings change lets the answers already queued finish on the old model, then closes it
and loads the new one; requests that arrive meanwhile wait for the load and then use the new
model. A failed load is kept as the status (the server stays up so the setting can be
fixed); only an unreachable backend is retried by the next request.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Protocol

from starchat.engine import (
    BackendUnavailableError,
    Engine,
    EngineError,
    EngineSettings,
    Health,
    ModelLoadError,
    create_engine,
)

logger = logging.getLogger(__name__)


class StatusListener(Protocol):
    def on_status(self, health: Health) -> None: ...

    def on_progress(self, message: str) -> None: ...


EngineFactory = Callable[[EngineSettings, Callable[[str], None]], Engine]
"""(settings, progress) → an engine not yet loaded: `create_engine`, or a test's fake."""


class ModelHost:
    def __init__(self, create: EngineFactory = create_engine) -> None:
        self._create = create
        self._lock = asyncio.Lock()
        self._settings: EngineSettings | None = None
        self._pending: Engine | None = None
        """The engine the latest settings asked for; `_engine` catches up under the lock."""
        self._engine: Engine | None = None
        self._failure: EngineError | None = None
        self._listeners: list[StatusListener] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._published: Health | None = None

    def health(self) -> Health:
        if self._pending is None:
            return Health("loading", "", "", "waiting for settings")
        health = self._pending.health()
        if self._failure is not None and self._pending is self._engine and health.state != "error":
            return Health("error", health.model, health.device, str(self._failure))
        return health

    def subscribe(self, listener: StatusListener) -> Callable[[], None]:
        """Tell `listener` about every change until the returned function is called."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def configure(self, settings: EngineSettings) -> None:
        """Serve `settings` from now on, loading in the background; no-op when unchanged."""
        if settings == self._settings:
            return
        self._settings = settings
        loop = asyncio.get_running_loop()

        def progress(message: str) -> None:  # called from the loading thread
            loop.call_soon_threadsafe(self._progress, message)

        self._pending = self._create(settings, progress)
        self._publish()
        task = asyncio.create_task(self._catch_up_queued())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Engine]:
        """Exclusive use of the loaded model, in arrival order; waits for any load first."""
        async with self._lock:
            await self._catch_up()
            engine = self._engine
            if engine is None:
                raise ModelLoadError("No model is configured yet (the client has not initialized)")
            if isinstance(self._failure, BackendUnavailableError):
                await self._load(engine)
            if self._failure is not None:
                raise self._failure
            yield engine

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        engines = {id(e): e for e in (self._engine, self._pending) if e is not None}
        self._engine = self._pending = None
        for engine in engines.values():
            await engine.close()

    async def _catch_up_queued(self) -> None:
        async with self._lock:
            await self._catch_up()

    async def _catch_up(self) -> None:
        if self._pending is self._engine:
            return
        old, self._engine = self._engine, self._pending
        if old is not None:
            await old.close()
        if self._engine is not None:
            await self._load(self._engine)

    async def _load(self, engine: Engine) -> None:
        self._failure = None
        self._publish()
        try:
            await engine.load()
        except EngineError as error:
            self._failure = error
        except Exception as error:  # a backend bug must not leave the status at "loading"
            logger.exception("loading the model failed")
            self._failure = ModelLoadError(f"Could not load the model: {error}")
        if engine is self._engine:
            self._publish()

    def _publish(self) -> None:
        health = self.health()
        if health == self._published:
            return
        self._published = health
        logger.info("model %s: %s %s", health.model, health.state, health.message or "")
        for listener in list(self._listeners):
            listener.on_status(health)

    def _progress(self, message: str) -> None:
        for listener in list(self._listeners):
            listener.on_progress(message)
