"""The WebSocket transport under the console endpoint, with a direct write path.

uvicorn's sans-I/O WebSocket protocol runs the handshake and the ASGI app as
usual. What it adds is ``DirectWriter``: once a console is live, an alert
frame (already framed as WebSocket bytes, once per alert per process) is
written straight to the connection's transport, with no coroutine, queue or
ASGI message per console. A console whose unsent bytes pass its bound is
closed with 4408 at once, without waiting for its socket to drain.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

EXTENSION = "orderbell.direct_write"


class DirectWriter:
    """Writes pre-framed WebSocket bytes to one connection's transport."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    def buffered(self) -> int:
        """Bytes written but not yet handed to the kernel."""
        return self._protocol.transport.get_write_buffer_size()

    def write(self, wire: bytes) -> bool:
        """Write one whole frame; False once the connection is closing or closed."""
        protocol = self._protocol
        if protocol.close_sent or protocol.disconnected:
            return False
        transport = protocol.transport
        if transport.is_closing():
            return False
        transport.write(wire)
        return True

    def close(self, code: int, reason: str) -> None:
        """Queue a close frame behind what was written, tell the app, and end the
        connection after the close timeout if the peer never answers."""
        protocol = self._protocol
        if protocol.close_sent or protocol.disconnected or protocol.transport.is_closing():
            return
        protocol.conn.send_close(code, reason)
        protocol.transport.write(b"".join(protocol.conn.data_to_send()))
        protocol.close_sent = True
        protocol.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        protocol.close_timer = protocol.loop.call_later(
            protocol.close_timeout, protocol.transport.close
        )


class ConsoleWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol that offers a ``DirectWriter`` to the app.

    The writer travels in the ASGI scope's extensions, so the endpoint works
    unchanged (through ASGI sends) under a server that does not offer it.
    """

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        # Set before the app's task first runs (it was only scheduled).
        if scope is not None:
            scope["extensions"][EXTENSION] = DirectWriter(self)


def direct_writer(scope: Any) -> DirectWriter | None:
    """The connection's direct writer, if the server offers one."""
    writer = (scope.get("extensions") or {}).get(EXTENSION)
    return writer if isinstance(writer, DirectWriter) else None
