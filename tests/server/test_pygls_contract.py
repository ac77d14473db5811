"""What server/lsp/protocol.py takes from pygls beyond its public API is still there.

`StarChatProtocol` subclasses pygls' `LanguageServerProtocol` and uses some of its private
state (`_shutdown`, `_request_futures`, `_send_data`, …). A pygls upgrade that renames one
would break the server only at run time, on the path that uses it; this test reads every
`self.<name>` the module uses and fails, naming them, when pygls no longer provides one.
"""

import ast
import inspect
from pathlib import Path

from lsprotocol import types
from pygls.protocol import LanguageServerProtocol
from starchat.server.lsp import protocol
from starchat.server.model_host import ModelHost
from starchat.server.options import Options
from starchat.server.session import StarChatServer

SOURCE = Path(protocol.__file__).read_text()


def used_from_pygls() -> dict[str, set[str]]:
    """`self.<name>` and `self.<name>.<attribute>` in StarChatProtocol that it does not
    define itself."""
    tree = ast.parse(SOURCE)
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "StarChatProtocol"]
    own = {n.name for n in cls.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    own |= {
        target.id
        for n in cls.body
        if isinstance(n, ast.AnnAssign | ast.Assign)
        for target in (n.targets if isinstance(n, ast.Assign) else [n.target])
        if isinstance(target, ast.Name)
    }
    used: dict[str, set[str]] = {}
    for node in ast.walk(cls):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
            and node.attr not in own
        ):
            used.setdefault(node.attr, set())
    for node in ast.walk(cls):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and isinstance(node.value.value, ast.Name)
            and node.value.value.id == "self"
            and node.value.attr in used
        ):
            used[node.value.attr].add(node.attr)
    return used


def test_the_private_pygls_state_the_protocol_uses_still_exists() -> None:
    used = used_from_pygls()
    assert {"_shutdown", "_request_futures", "_send_data", "fm"} <= set(used)  # the reader works
    live = StarChatServer(ModelHost(), Options()).protocol
    missing = sorted(name for name in used if not hasattr(live, name))
    missing += sorted(
        f"{name}.{attribute}"
        for name, attributes in used.items()
        if hasattr(live, name)
        for attribute in attributes
        if not hasattr(getattr(live, name), attribute)
    )
    assert not missing, f"pygls no longer provides {missing}: update server/lsp/protocol.py"


def test_the_private_pygls_methods_keep_their_signatures() -> None:
    assert list(inspect.signature(LanguageServerProtocol._handle_response).parameters) == [
        "self",
        "msg_id",
        "result",
        "error",
    ]
    assert list(inspect.signature(LanguageServerProtocol._send_data).parameters) == [
        "self",
        "data",
    ]
    assert inspect.isgeneratorfunction(LanguageServerProtocol.lsp_initialize)
    live = StarChatServer(ModelHost(), Options()).protocol
    assert isinstance(live._request_futures, dict) and isinstance(live._result_types, dict)
    assert isinstance(live.fm.features, dict) and isinstance(live.fm.commands, dict)


def test_message_types_are_not_cached_per_session() -> None:
    # pygls' own `get_message_type` is an lru_cache keyed by the protocol object: it kept
    # departed TCP sessions, documents included, alive.
    live = StarChatServer(ModelHost(), Options()).protocol
    assert live.get_message_type(types.INITIALIZE) is types.InitializeRequest
    assert not hasattr(type(live).get_message_type, "cache_info")
    assert not hasattr(type(live).get_result_type, "cache_info")
