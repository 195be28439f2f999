"""A tiny OpenAI-compatible HTTP server for tests: scripted replies, counted requests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[dict[str, Any]], dict[str, Any]]
"""request body -> the ``message`` of the answer (``{"content": ..., "tool_calls": ...}``),
or ``{"__status__": 503}`` to answer with that HTTP error."""


def text_reply(text: str) -> Reply:
    return lambda body: {"role": "assistant", "content": text}


@dataclass
class FakeServer:
    reply: Reply
    model: str = "fake"
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_requests(self) -> int:
        with self.lock:
            return len(self.requests)


def _handler(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # silence
            return

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.endswith("/models"):
                self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
            else:
                self._send(404, {"error": "not found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if not self.path.endswith("/chat/completions"):
                self._send(404, {"error": "not found"})
                return
            with server.lock:
                server.requests.append(body)
            if server.delay_s:
                time.sleep(server.delay_s)
            message = server.reply(body)
            if "__status__" in message:  # a scripted server error
                self._send(int(message["__status__"]), {"error": "scripted failure"})
                return
            self._send(
                200,
                {
                    "id": "x",
                    "object": "chat.completion",
                    "model": server.model,
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5},
                },
            )

    return Handler


@contextmanager
def fake_openai_server(reply: Reply, *, model: str = "fake", delay_s: float = 0.0) -> Iterator[FakeServer]:
    """Serve on a free local port in a background thread for the ``with`` block."""
    state = FakeServer(reply=reply, model=model, delay_s=delay_s)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
