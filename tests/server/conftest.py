"""Fixtures for the language-server tests: the real server process, tiny real models, a
scripted OpenAI-compatible endpoint, and a test client that records what a user would see."""

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Union

import pytest
import torch
from lsprotocol import types
from pygls.protocol import default_converter
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features
from starchat.server import methods

from tests.openai_stub import OpenAIStub
from tests.server.wire import ENV, SERVER


class StarChatClient(LanguageClient):
    """A pytest-lsp client that also records streamed chat text, applied edits, the
    model status and trimming notices."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.partial: dict[types.ProgressToken, list[tuple[float, str]]] = {}
        """Chat text per partial-result token, with its arrival time."""
        self.edits: list[types.ApplyWorkspaceEditParams] = []
        self.apply_edits = True
        self.statuses: list[dict[str, Any]] = []
        self.trimmed: list[dict[str, Any]] = []

    def streamed(self, token: types.ProgressToken) -> str:
        return "".join(text for _, text in self.partial.get(token, []))


def _converter() -> Any:
    """pygls' converter, with lsprotocol 2025.0.0's reading of code-action lists fixed: it
    takes every item with a `command` key for a Command, even a CodeAction whose `command`
    is an object, and so loses kind, diagnostics and arguments."""
    converter = default_converter()

    def command_or_action(value: Any, _: type) -> types.Command | types.CodeAction:
        kind = types.Command if isinstance(value.get("command"), str) else types.CodeAction
        return converter.structure(value, kind)

    converter.register_structure_hook(types.Command | types.CodeAction, command_or_action)
    converter.register_structure_hook(Union[types.Command, types.CodeAction], command_or_action)  # noqa: UP007
    return converter


def make_client() -> StarChatClient:
    client = StarChatClient(converter_factory=_converter)
    register_lsp_features(
        client, {k: v for k, v in DEFAULT_CLIENT_FEATURES.items() if k != types.PROGRESS}
    )

    @client.feature(types.PROGRESS)
    def progress(ls: StarChatClient, params: types.ProgressParams) -> None:
        value = params.value
        if isinstance(value, dict) and "kind" in value:
            kinds = {
                "begin": types.WorkDoneProgressBegin,
                "report": types.WorkDoneProgressReport,
                "end": types.WorkDoneProgressEnd,
            }
            report = ls.protocol._converter.structure(value, kinds[value["kind"]])
            ls.progress_reports.setdefault(params.token, []).append(report)
        else:
            text = value["text"] if isinstance(value, dict) else getattr(value, "text", "")
            ls.partial.setdefault(params.token, []).append((time.perf_counter(), text))

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(
        ls: StarChatClient, params: types.ApplyWorkspaceEditParams
    ) -> types.ApplyWorkspaceEditResult:
        ls.edits.append(params)
        return types.ApplyWorkspaceEditResult(applied=ls.apply_edits)

    @client.feature(methods.STATUS)
    def status(ls: StarChatClient, params: Any) -> None:
        ls.statuses.append(params if isinstance(params, dict) else params._asdict())

    @client.feature(methods.CONTEXT_TRIMMED)
    def trimmed(ls: StarChatClient, params: Any) -> None:
        ls.trimmed.append(params if isinstance(params, dict) else params._asdict())

    return client


CONFIG = ClientServerConfig(server_command=SERVER, client_factory=make_client, server_env=ENV)
WORKSPACE = "file:///work/project"


def initialize_params(
    options: dict[str, Any],
    *,
    encodings: list[str] | None = None,
    capabilities: types.ClientCapabilities | None = None,
) -> types.InitializeParams:
    """VS Code's capabilities (or `capabilities`), the given settings, a workspace folder."""
    caps = capabilities or client_capabilities("visual-studio-code")
    if encodings is not None:
        caps.general = types.GeneralClientCapabilities(position_encodings=encodings)
    return types.InitializeParams(
        capabilities=caps,
        initialization_options=options,
        root_uri=WORKSPACE,
        workspace_folders=[types.WorkspaceFolder(WORKSPACE, "project")],
    )


async def status(client: LanguageClient) -> dict[str, Any]:
    """`starchat/status`, as plain JSON."""
    return dict(as_dict(await client.protocol.send_request_async(methods.STATUS, {})))


async def wait_ready(client: StarChatClient, timeout: float = 60) -> dict[str, Any]:
    """Wait until the model is ready, through `starchat/status`."""
    deadline = time.monotonic() + timeout
    while True:
        current = await status(client)
        if current["state"] != "loading" or time.monotonic() > deadline:
            return current
        await asyncio.sleep(0.1)


def open_document(
    client: LanguageClient, uri: str, text: str, language: str = "python", version: int = 1
) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(types.TextDocumentItem(uri, language, version, text))
    )


def configure(client: LanguageClient, **settings: Any) -> None:
    """Change the `starchat` settings as an editor does (applied asynchronously)."""
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"starchat": settings})
    )


def lsp_range(start: tuple[int, int], end: tuple[int, int]) -> dict[str, Any]:
    return {
        "start": {"line": start[0], "character": start[1]},
        "end": {"line": end[0], "character": end[1]},
    }


def as_dict(value: Any) -> Any:
    """A custom request's result as plain JSON (pygls gives namedtuples)."""
    if hasattr(value, "_asdict"):
        return {k: as_dict(v) for k, v in value._asdict().items()}
    if isinstance(value, list):
        return [as_dict(v) for v in value]
    return value


@pytest.fixture(scope="session")
def endless_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model, changed so that it never ends an answer, with an 8,192-token window.

    Its end and special tokens get logits near -40 whatever the input (a final-layer-norm bias
    and an untied output row pointing against it), so answers run exactly `maxNewTokens`
    tokens: what streaming and cancellation tests need. The weights stay random.
    """
    from tests.tiny_model import build_tiny_starchat

    out = build_tiny_starchat(tmp_path_factory.mktemp("endless"), n_positions=8192)
    from transformers import AutoTokenizer, GPTBigCodeForCausalLM

    model = GPTBigCodeForCausalLM.from_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    with torch.no_grad():
        direction = torch.nn.functional.normalize(torch.randn(model.config.n_embd), dim=0)
        model.transformer.ln_f.weight.fill_(0.1)
        model.transformer.ln_f.bias.copy_(5 * direction)
        head = torch.nn.Linear(model.config.n_embd, model.config.vocab_size, bias=False)
        head.weight.copy_(model.transformer.wte.weight)
        for token_id in {tokenizer.eos_token_id, *tokenizer.all_special_ids}:
            head.weight[token_id] = -8 * direction
    model.config.tie_word_embeddings = False
    model.lm_head = head
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def scripted_openai() -> Iterator[OpenAIStub]:
    server = OpenAIStub(model="scripted-starchat")
    yield server
    server.close()


@pytest.fixture(scope="session")
def fim_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny StarCoder-format model taught to fill `FIM_LESSONS` (tests/tiny_model.py)."""
    from tests.tiny_model import build_tiny_fim

    return build_tiny_fim(tmp_path_factory.mktemp("fim"))
