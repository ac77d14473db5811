"""Thousands of random and mutated messages at the running server: every request among
them is answered, and afterwards the server still serves real requests.

Framing stays valid here (test_attacks.py lies about lengths); the bodies are random
bytes, random JSON, and valid LSP messages with parts replaced, removed or retyped.
`shutdown`/`exit` and settings changes are left out: they legitimately end the session or
load another model.
"""

import asyncio
import itertools
import json
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.openai_stub import OpenAIStub
from tests.server.wire import WireClient, frame

DOC = "file:///work/fuzz.py"
TEXT = "import os\n\n\ndef f(x):\n    return x + 1\n"
RANGE = {"start": {"line": 4, "character": 4}, "end": {"line": 4, "character": 9}}
TRACK = "track-me"
"""The id of a generated request; replaced by a unique id when sent, unless mutated away."""
EXCLUDED = {"shutdown", "exit", "workspace/didChangeConfiguration"}

TEMPLATES: list[dict[str, Any]] = [
    {
        "method": "textDocument/codeAction",
        "params": {
            "textDocument": {"uri": DOC},
            "range": RANGE,
            "context": {"diagnostics": [{"range": RANGE, "message": "bad", "severity": 1}]},
        },
    },
    {
        "method": "starchat/chat",
        "params": {
            "message": "hi",
            "context": {"uri": DOC, "range": RANGE},
            "partialResultToken": "p",
        },
    },
    {"method": "starchat/conversation/delete", "params": {"conversationId": "x"}},
    {"method": "starchat/status", "params": None},
    {
        "method": "workspace/executeCommand",
        "params": {"command": "starchat.fix", "arguments": [{"uri": DOC, "range": RANGE}]},
    },
    {
        "method": "workspace/executeCommand",
        "params": {"command": "starchat.writeTests", "arguments": [{"uri": DOC, "range": RANGE}]},
    },
    {
        "method": "textDocument/didChange",
        "params": {
            "textDocument": {"uri": DOC, "version": 9},
            "contentChanges": [{"range": RANGE, "text": "x + 2"}],
        },
    },
    {
        "method": "textDocument/didOpen",
        "params": {
            "textDocument": {
                "uri": "file:///work/other.py",
                "languageId": "python",
                "version": 1,
                "text": "😀 = 1\n",
            }
        },
    },
    {
        "method": "textDocument/didClose",
        "params": {"textDocument": {"uri": "file:///work/other.py"}},
    },
    {"method": "$/cancelRequest", "params": {"id": 3}},
    {
        "method": "textDocument/hover",
        "params": {"textDocument": {"uri": DOC}, "position": {"line": 0, "character": 0}},
    },
    {"method": "initialize", "params": {"capabilities": {}}},
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)


@st.composite
def mutated(draw: st.DrawFn) -> dict[str, Any]:
    """A valid message with one to three parts replaced, removed or retyped."""
    message = json.loads(json.dumps(draw(st.sampled_from(TEMPLATES))))
    message["jsonrpc"] = "2.0"
    if draw(st.booleans()):
        message["id"] = TRACK
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(message))
        path = draw(st.sampled_from(paths))
        parent = message
        for key in path[:-1]:
            parent = parent[key]
        action = draw(st.sampled_from(["replace", "delete", "stringify"]))
        key = path[-1]
        if action == "delete" and isinstance(parent, dict):
            del parent[key]
        elif action == "stringify":
            parent[key] = json.dumps(parent[key])
        else:
            parent[key] = draw(json_values)
    return message


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Any:
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, child in items:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))


random_messages = st.fixed_dictionaries(
    {
        "jsonrpc": st.sampled_from(["2.0", "2.0", "1.0"]),
        "method": st.text(max_size=30) | st.sampled_from([t["method"] for t in TEMPLATES]),
    },
    optional={"params": json_values, "id": json_values | st.just(TRACK)},
)

bodies = st.one_of(
    mutated().map(lambda m: ("json", m)),
    random_messages.map(lambda m: ("json", m)),
    json_values.map(lambda v: ("json", v)),
    st.binary(max_size=120).map(lambda b: ("bytes", b)),
)


async def fuzzed_server(backend_url: str) -> WireClient:
    server = WireClient.spawn()
    await server.initialize(
        {"backend": "openai", "backendUrl": backend_url}, window={"workDoneProgress": True}
    )
    server.open(DOC, TEXT)
    return server


async def test_thousands_of_bad_messages_leave_the_server_serving(
    scripted_openai: OpenAIStub,
) -> None:
    server = await fuzzed_server(scripted_openai.url)
    tracked: set[str] = set()
    sent_bodies: dict[str, Any] = {}
    ids = itertools.count()
    sent = 0
    try:

        @settings(
            max_examples=1500,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(st.lists(bodies, min_size=1, max_size=3))
        def throw(batch: list[tuple[str, Any]]) -> None:
            nonlocal sent
            for kind, body in batch:
                if kind == "bytes":
                    server.write(frame(body))
                    continue
                if isinstance(body, dict):
                    method = body.get("method")
                    if isinstance(method, str) and method in EXCLUDED:
                        continue
                    if body.get("id") == TRACK:
                        body["id"] = f"fuzz-{next(ids)}"
                        tracked.add(body["id"])
                        sent_bodies[body["id"]] = body
                server.write(frame(json.dumps(body).encode()))
                sent += 1
            assert server.process is not None and server.process.poll() is None, "it died"

        throw()
        # Ids the fuzzed messages cannot have used (they may reuse small integers).
        alive = server.request("starchat/status", msg_id="alive")
        assert "result" in await server.response(alive, timeout=60)
        deadline = time.monotonic() + 60
        while 0 in server.answered(tracked).values() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        answered = server.answered(tracked)
        unanswered = sorted(i for i, n in answered.items() if n == 0)
        examples = [sent_bodies[i] for i in unanswered][:5]
        assert not unanswered, f"{len(unanswered)} of {len(tracked)} unanswered, e.g. {examples}"
        assert all(n == 1 for n in answered.values()), "a request answered twice"
        print(f"fuzz: {sent} messages sent, {len(tracked)} requests all answered")

        server.open(DOC, TEXT)  # the fuzzed didChange/didClose may have changed or closed it
        actions = server.request(
            "textDocument/codeAction", TEMPLATES[0]["params"], msg_id="actions"
        )
        scripted_openai.answer("Sure.")
        chat = server.request("starchat/chat", {"message": "Still there?"}, msg_id="chat")
        assert "result" in await server.response(actions, timeout=60)
        assert "result" in await server.response(chat, timeout=60)
    finally:
        server.close()
