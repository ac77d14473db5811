"""An OpenAI-compatible endpoint whose answers the test writes.

The server's openai engine is real code; only the model behind it is scripted, so a test can
know the exact answer — and therefore the exact edit — while every byte still travels over
HTTP and server-sent events the way vLLM or TGI send them.
"""

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ScriptedOpenAI:
    def __init__(self, model: str = "scripted-starchat") -> None:
        self.model = model
        self.answers: deque[tuple[str, float]] = deque()
        self.requests: list[dict[str, Any]] = []
        """The body of every chat-completion request, in order."""
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}/v1"

    def answer(self, *texts: str, delay: float = 0.0) -> None:
        """Queue the next answers (one per chat-completion request), each starting after
        `delay` seconds."""
        self.answers.extend((text, delay) for text in texts)

    def last_user_message(self) -> str:
        return str(self.requests[-1]["messages"][-1]["content"])

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        script = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/") != "/v1/models":
                    self.send_error(404)
                    return
                body = json.dumps({"object": "list", "data": [{"id": script.model}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                request = json.loads(self.rfile.read(length))
                script.requests.append(request)
                text, delay = script.answers.popleft() if script.answers else ("OK.", 0.0)
                time.sleep(delay)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
                for piece in pieces:
                    self._event({"choices": [{"index": 0, "delta": {"content": piece}}]})
                self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                self._event(
                    {
                        "choices": [],
                        "usage": {"prompt_tokens": 10, "completion_tokens": len(pieces)},
                    }
                )
                self.wfile.write(b"data: [DONE]\n\n")

            def _event(self, payload: dict[str, Any]) -> None:
                self.wfile.write(b"data: " + json.dumps(payload).encode() + b"\n\n")
                self.wfile.flush()

        return Handler
