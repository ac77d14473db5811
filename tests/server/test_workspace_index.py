"""The workspace index through a real LSP session: built in the background after
`initialized`, reported in `starchat/status`, kept current by watched-file events."""

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, client_capabilities
from starchat.server import methods

from tests.openai_stub import OpenAIStub
from tests.server.conftest import StarChatClient, as_dict, configure, make_client, status
from tests.server.wire import ENV, SERVER

pytestmark = pytest.mark.asyncio(loop_scope="module")

SECRET = "sk-live-0d9c8b7a"


def _client() -> StarChatClient:
    client = make_client()
    client.registrations = []  # type: ignore[attr-defined]

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(ls: StarChatClient, params: types.RegistrationParams) -> None:
        ls.registrations.extend(params.registrations)  # type: ignore[attr-defined]

    return client


CONFIG = ClientServerConfig(server_command=SERVER, client_factory=_client, server_env=ENV)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("workspace")
    files = {
        "pkg/billing.py": "def compute_invoice_total(items, tax_rate):\n    return sum(items)\n",
        "pkg/geometry.py": "def area_of_circle(radius):\n    return 3.14 * radius ** 2\n",
        "web/agent.ts": "export function parseUserAgent(header: string) { return 1; }\n",
        ".env": f"API_KEY={SECRET}\n",
        ".gitignore": "generated/\n",
        "generated/schema.py": f"TOKEN = '{SECRET}'\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest_lsp.fixture(config=CONFIG, scope="module")
async def client(lsp_client: StarChatClient, project: Path, scripted_openai: OpenAIStub) -> Any:
    uri = project.as_uri()
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            initialization_options={"backend": "openai", "backendUrl": scripted_openai.url},
            root_uri=uri,
            workspace_folders=[types.WorkspaceFolder(uri, "workspace")],
        )
    )
    yield
    await lsp_client.shutdown_session()


async def _index(client: StarChatClient, until: Any, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        index = dict((await status(client))["index"])
        if until(index) or time.monotonic() > deadline:
            return index
        await asyncio.sleep(0.05)


def _changed(client: StarChatClient, path: Path, kind: types.FileChangeType) -> None:
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams([types.FileEvent(path.as_uri(), kind)])
    )


async def test_the_index_is_built_and_reported(client: StarChatClient) -> None:
    index = await _index(client, lambda i: i["state"] == "ready")
    assert (index["state"], index["files"]) == ("ready", 3)  # no .env, nothing ignored
    watched = [r for r in client.registrations if r.method == "workspace/didChangeWatchedFiles"]  # type: ignore[attr-defined]
    assert len(watched) == 1
    assert as_dict(watched[0].register_options)["watchers"][0]["globPattern"] == "**/*"
    for _ in range(100):  # the notification follows the state the request saw
        notified = [as_dict(s["index"]) for s in client.statuses if "index" in s]
        if notified and notified[-1]["state"] == "ready":
            break
        await asyncio.sleep(0.05)
    assert notified[-1] == {"state": "ready", "files": 3, "chunks": 3}


async def test_watched_changes_keep_it_current_and_secrets_stay_out(
    client: StarChatClient, project: Path
) -> None:
    await _index(client, lambda i: i["state"] == "ready")
    shipping = project / "pkg" / "shipping.py"
    shipping.write_text("def shipping_cost(weight):\n    return weight * 2\n")
    _changed(client, shipping, types.FileChangeType.Created)
    assert (await _index(client, lambda i: i["files"] == 4))["files"] == 4
    (project / ".env.local").write_text(f"API_KEY={SECRET}\n")
    _changed(client, project / ".env.local", types.FileChangeType.Created)
    shipping.unlink()
    _changed(client, shipping, types.FileChangeType.Deleted)
    assert (await _index(client, lambda i: i["files"] == 3))["files"] == 3


async def _chat(client: StarChatClient, message: str, **context: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"message": message}
    if context:
        params["context"] = context
    return dict(as_dict(await client.protocol.send_request_async(methods.CHAT, params)))


async def test_chat_gets_the_defining_code_and_lists_it(
    client: StarChatClient, project: Path, scripted_openai: OpenAIStub
) -> None:
    await _index(client, lambda i: i["state"] == "ready")
    result = await _chat(client, "How is the invoice total computed? What is the API_KEY?")
    sent = scripted_openai.last_user_message()
    assert "`pkg/billing.py`, lines 1–2:\n```python\ndef compute_invoice_total" in sent
    billing = (project / "pkg" / "billing.py").resolve().as_uri()
    assert result["references"][0]["uri"] == billing
    assert result["references"][0]["range"]["start"] == {"line": 0, "character": 0}
    assert all(SECRET not in str(r["messages"]) for r in scripted_openai.requests)


async def test_a_named_file_goes_first_and_the_open_file_is_not_repeated(
    client: StarChatClient, project: Path, scripted_openai: OpenAIStub
) -> None:
    await _index(client, lambda i: i["state"] == "ready")
    billing = project / "pkg" / "billing.py"
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(billing.as_uri(), "python", 1, billing.read_text())
        )
    )
    agent = (project / "web" / "agent.ts").as_uri()
    result = await _chat(
        client, "Why is the invoice total wrong?", uri=billing.as_uri(), files=[agent]
    )
    sent = scripted_openai.last_user_message()
    assert sent.count("def compute_invoice_total") == 1  # the open file, not a reference too
    assert "`web/agent.ts`, lines 1–1:\n```typescript\nexport function parseUserAgent" in sent
    assert result["references"][0]["uri"].endswith("web/agent.ts")


async def test_explain_sees_the_definitions_its_code_uses(
    client: StarChatClient, project: Path, scripted_openai: OpenAIStub
) -> None:
    await _index(client, lambda i: i["state"] == "ready")
    report = project / "report.py"
    text = "def report(items):\n    return compute_invoice_total(items, 0.2) + area_of_circle(1)\n"
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(report.as_uri(), "python", 1, text))
    )
    empty = {"start": {"line": 1, "character": 8}, "end": {"line": 1, "character": 8}}
    result = as_dict(
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(
                "starchat.explain", [{"uri": report.as_uri(), "range": empty}]
            )
        )
    )
    sent = scripted_openai.last_user_message()
    assert "`pkg/billing.py`, lines 1–2:" in sent and "`pkg/geometry.py`, lines 1–2:" in sent
    assert len(result["references"]) == 2


async def test_the_budget_is_kept_and_zero_turns_the_index_off(
    client: StarChatClient, scripted_openai: OpenAIStub
) -> None:
    await _index(client, lambda i: i["state"] == "ready")
    configure(client, workspaceContextTokens=5)
    result = await _chat(client, "How is the invoice total computed?")
    assert result["references"] == [] and "Other code" not in scripted_openai.last_user_message()
    configure(client, workspaceContextTokens=0)
    assert (await _index(client, lambda i: i["state"] == "off"))["files"] == 0
    assert (await _chat(client, "How is the invoice total computed?"))["text"] == "OK."
    configure(client, workspaceContextTokens=1024)
    assert (await _index(client, lambda i: i["state"] == "ready"))["files"] == 3
