"""A scripted OpenAI-compatible endpoint: the wire format of vLLM and TGI, answers the test writes.

The engines' HTTP code is real; only the model behind the endpoint is scripted, so a test can
know the exact answer (and therefore the exact edit or verdict) while every byte travels as
vLLM or TGI send it. Speaks `GET /v1/models`, `POST /v1/chat/completions` and (raw prompts,
as base models are served) `POST /v1/completions`, streaming (SSE `data:` chunks, a usage
chunk, `[DONE]`) or not, as the request's `stream` asks.

Each reply is, in order of preference: the next one queued with `answer()`, `decide(messages)`
(chat) or `complete(prompt)` (completions), or "OK.". A reply that is an `int` is an HTTP
error status with an OpenAI-style error body; after `fail_after` requests every one gets 500,
like a server going down. With `cut`, a reply longer than the request's `max_tokens` (a
token is four characters here) is cut there and ends with `finish_reason: "length"`, as a
real server's would. Requests are recorded; a client that hangs up mid-stream is counted
in `disconnects`.
"""

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = str | int
Decide = Callable[[list[dict[str, str]]], Reply]


class OpenAIStub:
    def __init__(
        self,
        *,
        decide: Decide | None = None,
        model: str = "stub",
        chunk_delay: float = 0.0,
        fail_after: int | None = None,
        rejects: frozenset[str] = frozenset(),
        cut: bool = False,
        complete: Callable[[str], Reply] | None = None,
    ) -> None:
        self.decide = decide
        self.complete = complete
        self.model = model
        self.chunk_delay = chunk_delay
        self.fail_after = fail_after
        self.rejects = rejects
        """Request fields answered with 400, as OpenAI's own API answers fields it lacks."""
        self.cut = cut
        self.requests: list[dict[str, Any]] = []
        """The body of every chat-completion request, in order."""
        self.disconnects = 0
        self._queued: deque[tuple[Reply, float]] = deque()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/v1"

    def answer(self, *replies: Reply, delay: float = 0.0) -> None:
        """Queue the next replies, one per request, each starting after `delay` seconds."""
        self._queued.extend((reply, delay) for reply in replies)

    def last_user_message(self) -> str:
        return str(self.requests[-1]["messages"][-1]["content"])

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def __enter__(self) -> "OpenAIStub":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _reply(self, request: dict[str, Any]) -> Reply:
        if self.fail_after is not None and len(self.requests) > self.fail_after:
            return 500
        if self._queued:
            reply, delay = self._queued.popleft()
            time.sleep(delay)
            return reply
        if "prompt" in request:
            return self.complete(request["prompt"]) if self.complete else "OK."
        return self.decide(request["messages"]) if self.decide else "OK."

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._json(200, {"object": "list", "data": [{"id": stub.model}]})
                else:
                    self._json(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                request = json.loads(self.rfile.read(length) or b"{}")
                stub.requests.append(request)
                unknown = sorted(stub.rejects & request.keys())
                if unknown:
                    message = f"Unrecognized request argument supplied: {unknown[0]}"
                    self._json(
                        400, {"error": {"message": message, "type": "invalid_request_error"}}
                    )
                    return
                reply = stub._reply(request)
                if isinstance(reply, int):
                    error = {"message": f"scripted failure {reply}", "type": "server_error"}
                    self._json(reply, {"error": error})
                    return
                pieces = [reply[i : i + 4] for i in range(0, len(reply), 4)]
                finish = "stop"
                if stub.cut and len(pieces) > request.get("max_tokens", len(pieces)):
                    pieces, finish = pieces[: request["max_tokens"]], "length"
                usage = {"prompt_tokens": 10, "completion_tokens": len(pieces)}
                raw = "prompt" in request
                if not request.get("stream") and raw:
                    choice = {"index": 0, "finish_reason": finish, "text": reply}
                    self._json(200, {"object": "text_completion", "choices": [choice]})
                    return
                if not request.get("stream"):
                    message = {"role": "assistant", "content": reply}
                    choice = {"index": 0, "finish_reason": "stop", "message": message}
                    self._json(
                        200, {"object": "chat.completion", "choices": [choice], "usage": usage}
                    )
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                try:
                    for piece in pieces:
                        body = {"text": piece} if raw else {"delta": {"content": piece}}
                        self._event({"choices": [{"index": 0, "finish_reason": None, **body}]})
                        time.sleep(stub.chunk_delay)
                    end = {"text": ""} if raw else {"delta": {}}
                    self._event({"choices": [{"index": 0, "finish_reason": finish, **end}]})
                    self._event({"choices": [], "usage": usage})
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    stub.disconnects += 1

            def _event(self, payload: object) -> None:
                self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
                self.wfile.flush()

        return Handler
