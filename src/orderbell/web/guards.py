"""What stands between the outside and the routes: origins (CORS and the console
socket), the size of request bodies, and the limits on reminders and logins.

``install_guards(app, settings)`` adds the middleware and the OpenAPI
description of the error envelope; the other functions are used by the
routes and the console socket.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import orjson
from fastapi import FastAPI, Request
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orderbell.domain.reminders import ReminderPolicy
from orderbell.services.login_throttle import LoginPolicy, LoginThrottle
from orderbell.settings import Settings
from orderbell.web.openapi import document_envelope

if TYPE_CHECKING:  # bootstrap imports this module
    from orderbell.parts import Orderbell

#: Request headers a page of an allowed origin may send (CORS).
CORS_HEADERS = (
    "authentication",
    "token",
    "authorization",
    "content-type",
    "idempotency-key",
    "x-api-key",
)


def reminder_policy(settings: Settings) -> ReminderPolicy:
    """The reminder limits the settings ask for."""
    return ReminderPolicy(
        delay=timedelta(seconds=settings.reminder_delay_seconds),
        interval=timedelta(seconds=settings.reminder_interval_seconds),
        max_per_order=settings.reminder_max_per_order,
    )


def login_throttle(parts: Orderbell) -> LoginThrottle:
    """The counters of failed logins, with the limits the settings ask for."""
    settings = parts.settings
    return LoginThrottle(
        parts.database,
        LoginPolicy(
            max_per_account=settings.login_max_failures_per_account,
            max_per_address=settings.login_max_failures_per_address,
            window=timedelta(seconds=settings.login_failure_window_seconds),
        ),
    )


def client_address(request: Request) -> str | None:
    """The client's IP address as the server sees it.

    Behind a proxy this is the address the proxy reports in
    ``X-Forwarded-For``, which the server believes only from the addresses
    in ``FORWARDED_ALLOW_IPS`` (127.0.0.1 unless set).
    """
    return request.client.host if request.client else None


def _default_port(scheme: str) -> int:
    return 443 if scheme in ("https", "wss") else 80


def _host_port(netloc: str, scheme: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(f"//{netloc}")
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if not host:
        return None
    return host.lower(), port if port is not None else _default_port(scheme)


def origin_allowed(origin: str | None, host: str | None, allowed: list[str]) -> bool:
    """Whether a WebSocket handshake with this ``Origin`` may go on.

    No ``Origin`` (a program, not a browser) is allowed: it cannot carry a
    victim's browser session anyway. A browser page is allowed when it comes
    from the server's own origin (the ``Host`` it connected to) or from one
    listed in ``ORDERBELL_ALLOWED_ORIGINS``; any other page is refused, so
    that a foreign site cannot open consoles from its visitors' browsers.
    """
    if origin is None:
        return True
    origin = origin.strip().rstrip("/").lower()
    if origin in allowed:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    if parsed.scheme not in ("http", "https") or not parsed.netloc or not host:
        return False
    theirs = _host_port(parsed.netloc, parsed.scheme)
    # The page's scheme also tells the port a bare Host header stands for
    # (a TLS proxy in front: https page, Host without port).
    ours = _host_port(host, parsed.scheme)
    return theirs is not None and theirs == ours


class BodyLimit:
    """Refuses request bodies over ``max_bytes`` with 413, before any route reads them.

    A declared ``Content-Length`` is checked at once; a chunked body is read
    up to the limit and handed on whole, or refused. Before refusing, the
    rest of a body of moderate size is read and thrown away, so that a
    client still sending it reads the 413 instead of a reset connection;
    beyond ``DRAIN_FACTOR`` times the limit the connection is just closed.
    """

    DRAIN_FACTOR = 16

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: Mapping[bytes, bytes] = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            # The server itself refuses a Content-Length that is not a number.
            if declared.isdigit() and int(declared) > self.max_bytes:
                if int(declared) <= self.max_bytes * self.DRAIN_FACTOR:
                    await self._drain(receive, 0)
                await self._too_large(send)
                return
            await self.app(scope, receive, send)
            return
        if b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        received: list[Message] = []
        size = 0
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                if message.get("more_body", False):
                    await self._drain(receive, size)
                await self._too_large(send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return received.pop(0) if received else await receive()

        await self.app(scope, replay, send)

    async def _drain(self, receive: Receive, size: int) -> None:
        while size <= self.max_bytes * self.DRAIN_FACTOR:
            message = await receive()
            if message["type"] != "http.request":
                return
            size += len(message.get("body", b""))
            if not message.get("more_body", False):
                return

    async def _too_large(self, send: Send) -> None:
        message = f"The request body is too large: at most {self.max_bytes} bytes."
        body = orjson.dumps({"code": 0, "msg": message, "data": None})
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def install_guards(app: FastAPI, settings: Settings) -> None:
    """Add CORS for the allowed origins, the body size limit, and the OpenAPI
    description of error responses."""
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    # Added last, so it runs first: a preflight is answered before anything else.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.allowed_origins,
        allow_methods=["GET", "POST", "PUT", "DELETE"],
        allow_headers=list(CORS_HEADERS),
        expose_headers=["Retry-After"],
        # Tokens travel in headers, never in cookies: nothing to share.
        allow_credentials=False,
        max_age=600,
    )
    document_envelope(app)
