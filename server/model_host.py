"""The one model the server hosts: background loading, status, and a first-come queue.

A GPU holds one model and decodes one answer at a time, so every generation goes through one
FIFO lock (`asyncio.Lock` wakes waiters in order): four chats sent at once are answered one
after another, in the order they arrived, none starved. Loading is a job in the same queue:
a settings change lets the answers already queued finish on the old model, then closes it
and loads the new one; requests that arrive meanwhile wait for the load and then use the new
model. A failed load is kept as the status (the server stays up so the setting can be
fixed); only an unreachable backend is retried by the next request.

Inline completions do not queue: they are short, asked for on every pause in typing, and
worthless a second later. They run beside whatever answer is being written — on the chat
model itself (a second decode thread; the weights are shared, each decode has its own cache)
or on a `completionModel` the host loads beside it in the same process; the answer pauses
between its steps while a completion decodes (engine/turns.py) — and a failure of the
completion model never touches chat.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, Protocol

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
        self._published: tuple[Health, Health] | None = None
        self._completion_settings: EngineSettings | None = None
        self._completer: Engine | None = None
        """The completion model, when it is not the chat model."""
        self._completer_failure: EngineError | None = None

    def health(self) -> Health:
        if self._pending is None:
            return Health("loading", "", "", "waiting for settings")
        health = self._pending.health()
        if self._failure is not None and self._pending is self._engine and health.state != "error":
            return Health("error", health.model, health.device, str(self._failure))
        return health

    def completion_health(self) -> Health:
        """The health of the model inline completions use."""
        if self._completer is None:
            return self.health()
        health = self._completer.health()
        if self._completer_failure is not None and health.state != "error":
            return Health("error", health.model, health.device, str(self._completer_failure))
        return health

    def configure_completion(self, settings: EngineSettings | None) -> None:
        """Complete with the model `settings` name (loading it in the background), or with
        the chat model when None; no-op when unchanged."""
        if settings == self._completion_settings:
            return
        self._completion_settings = settings
        old, self._completer, self._completer_failure = self._completer, None, None
        if old is not None:
            self._spawn(old.close())
        if settings is not None:
            self._completer = self._new_engine(settings)
            self._spawn(self._load_completer(self._completer))
        self._publish()

    def ready_completer(self) -> Engine | None:
        """The completion model when it is loaded and ready (for the status), else None."""
        engine = self._completer or (self._engine if self._engine is self._pending else None)
        ready = engine is not None and self.completion_health().state == "ready"
        return engine if ready else None

    async def completer(self) -> Engine:
        """The loaded model for inline completions; never waits behind a chat answer. While
        the chat model is being replaced, completions that use it fail (the client asks
        again on the next keystroke)."""
        engine = self._completer
        if engine is not None:
            if self._completer_failure is not None:
                if not isinstance(self._completer_failure, BackendUnavailableError):
                    raise self._completer_failure
                await self._load_completer(engine)
                if self._completer_failure is not None:
                    raise self._completer_failure
            await engine.load()
            return engine
        engine = self._engine
        if engine is None or engine is not self._pending:
            raise ModelLoadError("The model is loading; completions start when it is ready")
        if self._failure is not None:
            raise self._failure
        await engine.load()
        return engine

    async def _load_completer(self, engine: Engine) -> None:
        self._completer_failure = None  # not a failure while it loads
        self._completer_failure = await _loaded(engine)
        if engine is self._completer:
            self._publish()

    def _new_engine(self, settings: EngineSettings) -> Engine:
        """An engine for `settings`, not yet loaded, whose loading progress reaches the
        listeners (it is reported from the loading thread)."""
        loop = asyncio.get_running_loop()

        def progress(message: str) -> None:
            loop.call_soon_threadsafe(self._progress, message)

        return self._create(settings, progress)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
        self._pending = self._new_engine(settings)
        self._publish()
        self._spawn(self._catch_up_queued())

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
        engines = {
            id(e): e for e in (self._engine, self._pending, self._completer) if e is not None
        }
        self._engine = self._pending = self._completer = None
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
        self._failure = await _loaded(engine)
        if engine is self._engine:
            self._publish()

    def _publish(self) -> None:
        health = self.health()
        published = (health, self.completion_health())
        if published == self._published:
            return
        self._published = published
        logger.info("model %s: %s %s", health.model, health.state, health.message or "")
        for listener in list(self._listeners):
            listener.on_status(health)

    def _progress(self, message: str) -> None:
        for listener in list(self._listeners):
            listener.on_progress(message)


async def _loaded(engine: Engine) -> EngineError | None:
    """Load `engine`; the failure, if any (a backend bug must not leave a status at
    "loading", so any exception becomes a load error)."""
    try:
        await engine.load()
    except EngineError as error:
        return error
    except Exception as error:
        logger.exception("loading %s failed", engine.health().model)
        return ModelLoadError(f"Could not load the model: {error}")
    return None
