"""A stand-in for a browser vendor's push service: a stdlib HTTP server on a loopback port.

Each ``Device`` is a browser's side of a subscription: a P-256 key pair and
an auth secret made here, as a browser makes them. A push to the device's
endpoint (``/push/<name>``) is checked as a real push service and browser
would: the VAPID ``Authorization`` header (``vapid t=<JWT>,k=<key>``) must
carry an ES256 JWT signed by ``k`` whose ``aud`` is this service's origin,
not expired, with a ``sub``; the body is decrypted with ``http_ece``
(aes128gcm) and the device's private key. ``answer(name, status)`` makes the
service answer a device's pushes with another status (410: unsubscribed).
"""

from __future__ import annotations

import base64
import json
import os
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import http_ece
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.servers import free_port


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Device:
    """A browser's keys for one subscription."""

    name: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def p256dh(self) -> str:
        raw = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(raw)


@dataclass(frozen=True)
class Pushed:
    """One push that came: its device, headers, VAPID key and claims, and the message."""

    device: str
    status: int
    ttl: str | None
    urgency: str | None
    encoding: str | None
    vapid_key: str | None
    claims: dict[str, Any] | None
    message: dict[str, Any] | None
    error: str | None


class PushService:
    """The push service on ``127.0.0.1:port``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.devices: dict[str, Device] = {}
        self.answers: dict[str, int] = {}
        self.pushed: list[Pushed] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def device(self, name: str) -> Device:
        """A new device (subscription) of this service."""
        device = Device(name)
        self.devices[name] = device
        return device

    def subscription(self, name: str, device_id: str) -> dict[str, Any]:
        """The body a console posts for ``name`` (``PushSubscription.toJSON()`` + deviceId)."""
        device = self.devices.get(name) or self.device(name)
        return {
            "endpoint": f"{self.origin}/push/{name}",
            "expirationTime": None,
            "keys": {"p256dh": device.p256dh, "auth": b64url(device.auth)},
            "deviceId": device_id,
        }

    def answer(self, name: str, status: int) -> None:
        """Answer the pushes to ``name`` with ``status`` from now on."""
        self.answers[name] = status

    def to(self, name: str) -> list[Pushed]:
        with self._lock:
            return [p for p in self.pushed if p.device == name]

    def _check(self, name: str, headers: dict[str, str], body: bytes) -> Pushed:
        status = self.answers.get(name, 201)
        claims = message = key = error = None
        try:
            scheme, _, params = headers.get("authorization", "").partition(" ")
            assert scheme.lower() == "vapid", f"authorization scheme {scheme!r}"
            parts = dict(p.split("=", 1) for p in params.split(","))
            key = parts["k"]
            public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
            claims = jwt.decode(
                parts["t"],
                public,
                algorithms=["ES256"],
                audience=self.origin,
                options={"require": ["exp", "aud", "sub"]},
            )
            device = self.devices[name]
            plain = http_ece.decrypt(
                body, private_key=device.key, auth_secret=device.auth, version="aes128gcm"
            )
            message = json.loads(plain)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            status = 400
        return Pushed(
            device=name,
            status=status,
            ttl=headers.get("ttl"),
            urgency=headers.get("urgency"),
            encoding=headers.get("content-encoding"),
            vapid_key=key,
            claims=claims,
            message=message,
            error=error,
        )

    def start(self) -> PushService:
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                name = self.path.removeprefix("/push/")
                pushed = service._check(name, {k.lower(): v for k, v in self.headers.items()}, body)
                with service._lock:
                    service.pushed.append(pushed)
                self.send_response(pushed.status)
                self.send_header("content-length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
