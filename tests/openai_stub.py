"""A scripted OpenAI-compatible endpoint for tests: the wire format of vLLM/TGI, canned answers.

Speaks `GET /v1/models` and `POST /v1/chat/completions` (SSE `data:` chunks ending in
`[DONE]`, or one JSON body when `stream` is false). Answers come from `replies` in order
(the last one repeats); a reply that is an `int` is an HTTP error status with an
OpenAI-style error body. Requests are recorded; a client that hangs up mid-stream is noted
in `disconnects`.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class OpenAIStub:
    def __init__(
        self, replies: list[str | int], *, delay: float = 0.0, model: str = "stub"
    ) -> None:
        self.replies = replies
        self.delay = delay
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.disconnects = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> "OpenAIStub":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _next_reply(self) -> str | int:
        index = min(len(self.requests) - 1, len(self.replies) - 1)
        return self.replies[index]

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
                reply = stub._next_reply()
                if isinstance(reply, int):
                    self._json(
                        reply,
                        {
                            "error": {
                                "message": f"scripted failure {reply}",
                                "type": "invalid_request_error",
                            }
                        },
                    )
                    return
                pieces = [reply[i : i + 4] for i in range(0, len(reply), 4)]
                if not request.get("stream"):
                    self._json(
                        200,
                        {
                            "choices": [
                                {
                                    "index": 0,
                                    "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": reply},
                                }
                            ],
                            "usage": {"prompt_tokens": 10, "completion_tokens": len(pieces)},
                        },
                    )
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                try:
                    for piece in pieces:
                        self._event(
                            {
                                "choices": [
                                    {"index": 0, "delta": {"content": piece}, "finish_reason": None}
                                ]
                            }
                        )
                        time.sleep(stub.delay)
                    self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                    self._event(
                        {
                            "choices": [],
                            "usage": {"prompt_tokens": 10, "completion_tokens": len(pieces)},
                        }
                    )
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    stub.disconnects += 1

            def _event(self, payload: object) -> None:
                self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
                self.wfile.flush()

        return Handler
