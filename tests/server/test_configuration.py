"""Settings from initializationOptions and workspace/didChangeConfiguration: typed, checked
key by key, invalid values named to the user while the previous value stays; a model
change reloads in the background with status and progress; a failed load keeps the server
up until the setting is fixed."""

import asyncio
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from starchat.server import methods
from starchat.server.options import OPERATOR_SETTINGS, Options, apply_settings

from tests.openai_stub import OpenAIStub
from tests.server.conftest import CONFIG, StarChatClient, as_dict, initialize_params, wait_ready

pytestmark = pytest.mark.asyncio(loop_scope="module")


def settings_change(client: StarChatClient, settings: Any) -> None:
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings))


async def chat(client: StarChatClient, message: str = "Hi") -> dict[str, Any]:
    return as_dict(await client.protocol.send_request_async(methods.CHAT, {"message": message}))


def errors(client: StarChatClient) -> list[str]:
    return [m.message for m in client.messages if m.type == types.MessageType.Error]


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def openai_client(lsp_client: StarChatClient, scripted_openai: OpenAIStub) -> Any:
    await lsp_client.initialize_session(
        initialize_params(
            {
                "backend": "openai",
                "backendUrl": scripted_openai.url,
                "temperature": 5,
                "maxNewTokens": "many",
                "topP": 0.5,
                "server": {"python": "/usr/bin/python3"},
            }
        )
    )
    assert (await wait_ready(lsp_client))["state"] == "ready"
    yield
    await lsp_client.shutdown_session()


async def test_invalid_initialization_options_are_named_and_ignored(
    openai_client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    client = openai_client
    shown = errors(client)
    assert len(shown) == 2
    assert any("starchat.temperature" in m and "less than or equal to 2" in m for m in shown)
    assert any("starchat.maxNewTokens" in m and "'many'" in m for m in shown)
    await chat(client)
    body = scripted_openai.requests[-1]
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.2, 0.5, 256)


async def test_a_change_keeps_previous_values_for_invalid_keys(
    openai_client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    client = openai_client
    client.messages.clear()
    settings_change(
        client, {"starchat": {"temperature": 0.7, "topP": 2, "trace": {"server": "off"}}}
    )
    await chat(client)
    body = scripted_openai.requests[-1]
    assert (body["temperature"], body["top_p"]) == (0.7, 0.5)
    (message,) = errors(client)
    assert "starchat.topP" in message and "Keeping the previous value" in message

    settings_change(client, {"maxNewTokens": 99})  # the bare object, as Helix sends it
    await chat(client)
    assert scripted_openai.requests[-1]["max_tokens"] == 99


async def test_null_settings_are_pulled_with_workspace_configuration(
    openai_client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    client = openai_client
    client.set_configuration({"maxNewTokens": 77}, section="starchat")
    settings_change(client, None)
    for _ in range(50):  # the server applies pulled settings once the client has answered
        await chat(client)
        if scripted_openai.requests[-1]["max_tokens"] == 77:
            break
        await asyncio.sleep(0.05)
    assert scripted_openai.requests[-1]["max_tokens"] == 77


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def tiny_client(lsp_client: StarChatClient, tiny_model_dir: Path) -> Any:
    await lsp_client.initialize_session(
        initialize_params({"model": str(tiny_model_dir), "maxNewTokens": 8})
    )
    assert (await wait_ready(lsp_client))["state"] == "ready"
    yield
    await lsp_client.shutdown_session()


async def test_a_failed_load_is_reported_and_fixed_by_a_setting(
    tiny_client: StarChatClient, tiny_model_dir: Path, tmp_path: Path
) -> None:
    client = tiny_client
    missing = tmp_path / "no-such-model"
    client.messages.clear()
    client.statuses.clear()
    settings_change(client, {"starchat": {"model": str(missing)}})
    # A request sent during the reload waits for it, then reports the failure.
    with pytest.raises(JsonRpcException) as error:
        await chat(client)
    assert error.value.code == -32803 and error.value.data["code"] == "model_not_found"
    status = await wait_ready(client)
    assert status["state"] == "error" and str(missing) in status["message"]
    states = [s["state"] for s in client.statuses]
    # (A status sent for the workspace index before the change may arrive after `clear()`.)
    assert states[states.index("loading") :] == ["loading", "error"]
    shown = [m for m in errors(client) if "could not load the model" in m]
    assert len(shown) == 1 and "starchat.model" in shown[0], shown
    # A change elsewhere (the completion model) sends a status again, not the error again.
    settings_change(client, {"starchat": {"completionModel": str(tmp_path / "no-fim")}})
    await asyncio.sleep(1)
    assert [m for m in errors(client) if "could not load the model" in m] == shown
    settings_change(client, {"starchat": {"completionModel": ""}})

    settings_change(client, {"starchat": {"model": str(tiny_model_dir)}})
    reply = await chat(client)  # waits for the reload
    assert reply["usage"]["generatedTokens"] > 0
    assert [s["state"] for s in client.statuses][-2:] == ["loading", "ready"]
    assert client.statuses[-1]["model"] == str(tiny_model_dir)


async def test_a_shared_server_keeps_the_operators_model_and_backend() -> None:
    operator = Options(backend="openai", backendUrl="http://gpu:8000/v1")
    update = apply_settings(
        operator,
        {
            "token": "not a setting",
            "model": "someone-elses",
            "backendUrl": "http://elsewhere/v1",
            "backend": "openai",  # the server's own value: nothing to refuse
            "device": "auto",  # the default, which editors send unasked
            "temperature": 0.5,
            "kvCacheMB": 1,  # the caches' store is the whole server's
        },
        OPERATOR_SETTINGS,
    )
    assert update.refused == ["starchat.model", "starchat.backendUrl", "starchat.kvCacheMB"]
    assert update.errors == [] and update.ignored == []
    assert update.options == operator.model_copy(update={"temperature": 0.5})
    free = apply_settings(operator, {"model": "mine", "token": "x"})
    assert free.options.model == "mine" and free.refused == [] and free.ignored == []
