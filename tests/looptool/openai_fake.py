"""A tiny OpenAI-compatible server for the transport, completions and chat-model tests:
chat completions with a fixed reply, scripted failures, ``/tokenize``, ``prompt_logprobs``."""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from looptool.config import RoleSettings, SamplingSettings


@dataclass
class FakeServer:
    """Answers chat completions with ``reply`` or fails with ``fail_status`` for the first
    ``failures`` requests (all of them when None); waits ``delay_s`` before answering."""

    reply: str = "hello"
    fail_status: int | None = None
    failures: int | None = None
    delay_s: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def start(self) -> FakeServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                data = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append({"path": self.path, "body": data})
                if server.delay_s:
                    threading.Event().wait(server.delay_s)
                failing = server.fail_status is not None and (
                    server.failures is None or len(server.requests) <= server.failures
                )
                if failing:
                    assert server.fail_status is not None
                    self._send(server.fail_status, {"error": {"message": "boom"}})
                elif self.path == "/tokenize":
                    self._send(200, {"tokens": [ord(ch) for ch in data["prompt"]]})
                elif self.path == "/v1/completions":
                    prompt = data["prompt"]
                    scored: list[Any] = [None] + [
                        {str(token): {"logprob": -0.5 * (i + 1), "rank": 1, "decoded_token": chr(token)}}
                        for i, token in enumerate(prompt[1:])
                    ]
                    self._send(200, {
                        "choices": [{"text": "x", "finish_reason": "length", "prompt_logprobs": scored}],
                        "usage": {"prompt_tokens": len(prompt), "completion_tokens": 1},
                    })
                else:
                    self._send(200, {
                        "id": "c1", "object": "chat.completion", "created": 0, "model": data.get("model"),
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": server.reply}}],
                        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
                    })

            def do_GET(self) -> None:
                self._send(200, {"object": "list", "data": [{"id": "smollm2"}, {"id": "iter1"}]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def role(*urls: str, retries: int = 3) -> RoleSettings:
    return RoleSettings(base_urls=list(urls), max_retries=retries, timeout_s=10, sampling=SamplingSettings(max_tokens=16))


def dead_url() -> str:
    """A local URL nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
