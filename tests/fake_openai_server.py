"""The local OpenAI-compatible HTTP server every unit test uses in place of vLLM (tests only).

It speaks the subset of the API our clients use:

- ``GET /v1/models``: the ``models`` it serves;
- ``POST /v1/chat/completions``: the next scripted reply (see :data:`ChatReply`);
- ``POST /v1/completions``: a one-token completion (``"x"``, or ``completion(body)`` when
  given) and, when asked for, vLLM's
  ``prompt_logprobs`` (position ``i`` of the prompt scores ``-0.5 * i``; the first ``None``);
- ``POST /tokenize`` (vLLM's): one token per character, its code point.

Chat replies are used one per chat request, in order, the last one repeating; an
:class:`HttpError` answers with that status instead (``[HttpError(503), "ok"]``: a 503, then 200s).
``delay_s`` waits before every answer. Every POST is recorded in ``requests``.

    with FakeOpenAIServer(replies=["hello"]) as server:
        client = OpenAI(base_url=server.base_url, api_key="x")
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from looptool.config import RoleSettings, SamplingSettings

CHAT_PATH = "/v1/chat/completions"
COMPLETIONS_PATH = "/v1/completions"
TOKENIZE_PATH = "/tokenize"
MODELS_PATH = "/v1/models"


@dataclass(frozen=True)
class HttpError:
    """A scripted failure: answer the request with this HTTP status."""

    status: int
    message: str = "scripted failure"


ChatReply = str | dict[str, Any] | HttpError | Callable[[dict[str, Any]], Any]
"""One scripted chat answer: the assistant's text, the whole ``message`` object (for
``tool_calls``), an :class:`HttpError`, or a function of the request body returning one of those."""


@dataclass(frozen=True)
class RecordedRequest:
    """One POST the server received."""

    path: str
    body: dict[str, Any]


def _message(reply: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(reply, str):
        return {"role": "assistant", "content": reply}
    return {"role": "assistant", **reply}


@dataclass
class FakeOpenAIServer:
    """A threaded server on a free local port while the ``with`` block runs."""

    replies: list[ChatReply] = field(default_factory=lambda: ["hello"])
    models: list[str] = field(default_factory=lambda: ["fake"])
    delay_s: float = 0.0
    completion: Callable[[dict[str, Any]], str] | None = None
    requests: list[RecordedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _chat_count: int = field(default=0, repr=False)
    _httpd: ThreadingHTTPServer | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the fake server is not running: use it in a `with` block")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def chat_bodies(self) -> list[dict[str, Any]]:
        """The bodies of the chat-completion requests so far."""
        with self._lock:
            return [request.body for request in self.requests if request.path == CHAT_PATH]

    def bodies(self, path: str) -> list[dict[str, Any]]:
        """The bodies of the requests posted to ``path`` (e.g. ``/v1/completions``)."""
        with self._lock:
            return [request.body for request in self.requests if request.path == path]

    def _record(self, path: str, body: dict[str, Any]) -> ChatReply | None:
        """Log the request; for a chat request, take its scripted reply."""
        with self._lock:
            self.requests.append(RecordedRequest(path=path, body=body))
            if path != CHAT_PATH:
                return None
            if not self.replies:
                raise AssertionError("the fake server has no scripted chat replies")
            index = min(self._chat_count, len(self.replies) - 1)
            self._chat_count += 1
            return self.replies[index]

    def chat_answer(self, reply: ChatReply, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON payload for one scripted reply."""
        answer: Any = reply(body) if callable(reply) and not isinstance(reply, HttpError) else reply
        if isinstance(answer, HttpError):
            return answer.status, {"error": {"message": answer.message, "code": answer.status}}
        return 200, {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model") or self.models[0],
            "choices": [{"index": 0, "message": _message(answer), "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }

    def __enter__(self) -> FakeOpenAIServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()


def _completion(body: dict[str, Any], text: str = "x") -> dict[str, Any]:
    prompt = body.get("prompt")
    tokens: list[int] = prompt if isinstance(prompt, list) else [ord(ch) for ch in str(prompt or "")]
    choice: dict[str, Any] = {"index": 0, "text": text, "finish_reason": "length"}
    if body.get("prompt_logprobs") is not None:
        choice["prompt_logprobs"] = [None] + [
            {str(token): {"logprob": -0.5 * position, "rank": 1, "decoded_token": chr(token)}}
            for position, token in enumerate(tokens[1:], start=1)
        ]
    return {
        "id": "cmpl-fake",
        "object": "text_completion",
        "created": 0,
        "model": body.get("model"),
        "choices": [choice],
        "usage": {"prompt_tokens": len(tokens), "completion_tokens": 1, "total_tokens": len(tokens) + 1},
    }


def _handler(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            return

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path != MODELS_PATH:
                self._send(404, {"error": {"message": f"no route GET {self.path}"}})
                return
            self._send(200, {"object": "list", "data": [{"id": name, "object": "model"} for name in server.models]})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path not in (CHAT_PATH, COMPLETIONS_PATH, TOKENIZE_PATH):
                self._send(404, {"error": {"message": f"no route POST {self.path}"}})
                return
            reply = server._record(self.path, body)
            if server.delay_s:
                threading.Event().wait(server.delay_s)
            if self.path == TOKENIZE_PATH:
                self._send(200, {"tokens": [ord(ch) for ch in body["prompt"]]})
            elif self.path == COMPLETIONS_PATH:
                self._send(200, _completion(body, server.completion(body) if server.completion else "x"))
            else:
                assert reply is not None
                self._send(*server.chat_answer(reply, body))

    return Handler


def dead_url() -> str:
    """A local base URL nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def role_settings(*base_urls: str, retries: int = 3) -> RoleSettings:
    """A model role pointed at these (fake) endpoints: short timeout, 16 tokens per reply."""
    return RoleSettings(base_urls=list(base_urls), max_retries=retries, timeout_s=10,
                        sampling=SamplingSettings(max_tokens=16))
