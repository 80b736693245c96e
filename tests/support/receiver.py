"""A real webhook receiver: a stdlib HTTP server on a loopback port, in a thread.

It verifies every request with the ``standardwebhooks`` verifier and the
endpoint's secret, records what came, and answers as the test tells it:
``fail(n, status)`` answers the next ``n`` requests with ``status``,
``delay`` makes every answer wait, ``stop``/``start`` take the port away
(connection refused) and bring it back.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support.servers import free_port


@dataclass(frozen=True)
class Received:
    """One request that came: its webhook headers, body, and whether it verified."""

    path: str
    message_id: str
    timestamp: str
    body: dict[str, Any]
    verified: bool
    answered: int
    at: float


class Receiver:
    """A webhook receiver on ``127.0.0.1:port``; ``url(path)`` is where to point endpoints."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.secrets: dict[str, str] = {}
        self.received: list[Received] = []
        self.delay = 0.0
        self._failures: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def secret(self, path: str, secret: str) -> None:
        """Verify requests to ``path`` with ``secret`` (as the endpoint's add answered)."""
        self.secrets[path] = secret

    def fail(self, count: int, status: int = 500, path: str = "/hook") -> None:
        """Answer the next ``count`` requests to ``path`` with ``status``."""
        with self._lock:
            self._failures.setdefault(path, []).extend([status] * count)

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]

    def delivered(self, path: str = "/hook") -> list[Received]:
        """Requests to ``path`` answered 2xx."""
        return [r for r in self.at(path) if 200 <= r.answered < 300]

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                with receiver._lock:
                    receiver._connections.add(self.connection)

            def finish(self) -> None:
                with receiver._lock:
                    receiver._connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                raw = self.rfile.read(length)
                if receiver.delay:
                    time.sleep(receiver.delay)
                headers = {k.lower(): v for k, v in self.headers.items()}
                secret = receiver.secrets.get(self.path)
                verified = False
                if secret is not None:
                    try:
                        Webhook(secret).verify(raw, headers)
                        verified = True
                    except WebhookVerificationError:
                        verified = False
                with receiver._lock:
                    queue = receiver._failures.get(self.path)
                    status = queue.pop(0) if queue else 204
                    receiver.received.append(
                        Received(
                            path=self.path,
                            message_id=headers.get("webhook-id", ""),
                            timestamp=headers.get("webhook-timestamp", ""),
                            body=json.loads(raw or b"null"),
                            verified=verified,
                            answered=status,
                            at=time.monotonic(),
                        )
                    )
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            # Kept-alive connections too: a stopped receiver refuses everything.
            with self._lock:
                for connection in self._connections:
                    with contextlib.suppress(OSError):
                        connection.shutdown(socket.SHUT_RDWR)
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
