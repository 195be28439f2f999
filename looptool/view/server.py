"""The HTTP server of the run browser: the standard library's threading server on 127.0.0.1.

Only GET and HEAD; every response comes from :class:`looptool.view.app.ViewApp`. Pages load
nothing from elsewhere (inline CSS, inline SVG, the run's own PNG), and a request whose Host
is not this machine's loopback name is refused (a web page cannot read runs by rebinding its
own domain to 127.0.0.1).
"""

from __future__ import annotations

import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from looptool.view.app import Response, ViewApp

log = logging.getLogger(__name__)

#: No script, no outside resource: a page can never fetch or run anything.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'"


class _Handler(BaseHTTPRequestHandler):
    server: ViewServer
    protocol_version = "HTTP/1.1"

    def _send(self, response: Response, *, body: bool = True) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        if response.location:
            self.send_header("Location", response.location)
        self.end_headers()
        if body:
            self.wfile.write(response.body)

    def _respond(self) -> Response:
        host = (self.headers.get("Host") or "").strip().lower()
        if host not in self.server.allowed_hosts:  # DNS rebinding: another site's name for 127.0.0.1
            return Response(421, "text/plain; charset=utf-8", b"this server answers only to 127.0.0.1 and localhost\n")
        return self.server.app.handle(self.path)

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        self._send(self._respond())

    def do_HEAD(self) -> None:  # noqa: N802
        self._send(self._respond(), body=False)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (overrides the base name)
        log.debug("view: " + format, *args)


class ViewServer(ThreadingHTTPServer):
    """``ViewServer(app)`` listens on 127.0.0.1 at ``port`` (0: a free port)."""

    daemon_threads = True

    def __init__(self, app: ViewApp, port: int = 0, host: str = "127.0.0.1") -> None:
        self.app = app
        super().__init__((host, port), _Handler)

    @property
    def allowed_hosts(self) -> set[str]:
        """The Host headers a browser on this machine sends for this server."""
        port = self.server_address[1]
        return {f"127.0.0.1:{port}", f"localhost:{port}"}

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/"
