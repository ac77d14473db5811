"""A scripted judge: an OpenAI-compatible chat-completions endpoint that answers by content.

Unlike `tests/openai_stub.py` (canned replies in order), its reply is computed from each
request by `decide(messages) -> str`, so a test can make the verdict depend on which answer
the judge sees first. Speaks `GET /v1/models` and `POST /v1/chat/completions`, streaming
(SSE chunks, then a usage chunk, then `[DONE]`) or not, as the request's `stream` asks.
After `fail_after` requests every further one gets HTTP 500, like a server going down.
"""

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Decide = Callable[[list[dict[str, str]]], str]


class ScriptedJudge:
    def __init__(self, decide: Decide, *, fail_after: int | None = None) -> None:
        self.decide = decide
        self.fail_after = fail_after
        self.requests: list[dict[str, Any]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> "ScriptedJudge":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        judge = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _event(self, payload: object) -> None:
                self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")

            def do_GET(self) -> None:
                self._send(200, {"object": "list", "data": [{"id": "judge", "object": "model"}]})

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                judge.requests.append(request)
                if judge.fail_after is not None and len(judge.requests) > judge.fail_after:
                    self._send(500, {"error": {"message": "judge overloaded"}})
                    return
                reply = judge.decide(request["messages"])
                usage = {"prompt_tokens": 100, "completion_tokens": len(reply.split())}
                if not request.get("stream"):
                    message = {"role": "assistant", "content": reply}
                    self._send(
                        200,
                        {
                            "object": "chat.completion",
                            "usage": usage,
                            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                        },
                    )
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for start in range(0, len(reply), 5):
                    delta = {"content": reply[start : start + 5]}
                    self._event({"choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
                self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                self._event({"choices": [], "usage": usage})
                self.wfile.write(b"data: [DONE]\n\n")

        return Handler
