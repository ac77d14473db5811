"""ModelHost's queue and loading, with a scripted engine: order, reloads, failures."""

import asyncio

import pytest
from starchat.engine import (
    BackendUnavailableError,
    EngineSettings,
    GenerationRequest,
    ModelLoadError,
    ModelNotFoundError,
    collect,
)
from starchat.server.model_host import ModelHost

from tests.fake_engine import factory

HI = GenerationRequest([{"role": "user", "content": "hi"}])


async def _ask(host: ModelHost, log: list[str], who: str) -> str:
    """One answer through the host's queue, logging when it starts and ends."""
    async with host.session() as engine:
        log.append(f"start {who}")
        answer = await collect(engine.generate(HI))
        log.append(f"end {who}")
        return answer.text


async def _settled(host: ModelHost) -> None:
    for _ in range(100):
        await asyncio.sleep(0)
    async with host.session():
        pass


async def test_answers_run_one_at_a_time_in_arrival_order() -> None:
    log: list[str] = []
    host = ModelHost(factory(log))
    host.configure(EngineSettings(model="m"))
    tasks = [asyncio.create_task(_ask(host, log, str(i))) for i in range(5)]
    assert await asyncio.gather(*tasks) == ["m"] * 5
    served = [entry for entry in log if entry.split()[0] in ("start", "end")]
    assert served == [f"{edge} {i}" for i in range(5) for edge in ("start", "end")]
    assert log.count("load m") == 1


async def test_a_new_model_loads_after_the_queued_answers_finish_on_the_old_one() -> None:
    log: list[str] = []
    host = ModelHost(factory(log))
    host.configure(EngineSettings(model="old"))
    await _settled(host)
    first = asyncio.create_task(_ask(host, log, "first"))
    await asyncio.sleep(0)
    host.configure(EngineSettings(model="new"))
    second = asyncio.create_task(_ask(host, log, "second"))
    assert (await first, await second) == ("old", "new")
    assert log.index("end first") < log.index("close old") < log.index("load new")
    assert log.index("load new") < log.index("start second")
    assert host.health().model == "new" and host.health().state == "ready"


async def test_unchanged_settings_do_not_reload() -> None:
    log: list[str] = []
    host = ModelHost(factory(log))
    host.configure(EngineSettings(model="m"))
    await _settled(host)
    host.configure(EngineSettings(model="m"))
    await _settled(host)
    assert log == ["load m"]


async def test_a_failed_load_is_the_status_and_every_answer_says_why_until_fixed() -> None:
    log: list[str] = []
    error = ModelNotFoundError("No model directory at ./typo")
    host = ModelHost(factory(log, fails={"./typo": error}))
    statuses: list[str] = []

    class Listener:
        def on_status(self, health: object) -> None:
            statuses.append(health.state)

        def on_progress(self, message: str) -> None:
            pass

    host.subscribe(Listener())
    host.configure(EngineSettings(model="./typo"))
    for _ in range(2):
        with pytest.raises(ModelNotFoundError) as raised:
            await _ask(host, log, "x")
        assert raised.value is error
    assert host.health().state == "error" and "./typo" in (host.health().message or "")
    assert log.count("load ./typo") == 1  # a missing model is not retried on every request
    host.configure(EngineSettings(model="fixed"))
    assert await _ask(host, log, "y") == "fixed"
    assert statuses[-1] == "ready" and "error" in statuses


async def test_an_unreachable_backend_is_retried_by_the_next_request() -> None:
    log: list[str] = []
    failures = {"remote": BackendUnavailableError("http://gpu:8000/v1 refused the connection")}
    host = ModelHost(factory(log, fails=failures))
    host.configure(EngineSettings(model="remote"))
    await asyncio.sleep(0.01)
    assert host.health().state == "error"
    with pytest.raises(BackendUnavailableError):
        await _ask(host, log, "x")  # still down: each request tries again
    failures.clear()  # the backend comes up
    assert await _ask(host, log, "y") == "remote"
    assert log.count("load remote") == 3 and host.health().state == "ready"


async def test_requests_wait_for_a_load_in_progress() -> None:
    log: list[str] = []
    gate = asyncio.Event()
    host = ModelHost(factory(log, load_gate=gate))
    host.configure(EngineSettings(model="slow"))
    asking = asyncio.create_task(_ask(host, log, "early"))
    await asyncio.sleep(0.01)
    assert not asking.done() and host.health().state == "loading"
    gate.set()
    assert await asking == "slow"
    assert log.index("load slow") < log.index("start early")


async def test_no_answer_before_the_client_configures_a_model() -> None:
    host = ModelHost(factory([]))
    with pytest.raises(ModelLoadError, match="No model is configured"):
        async with host.session():
            pass
