"""The WebSocket transport under the console endpoint, with a direct write path.

uvicorn's sans-I/O WebSocket protocol runs the handshake and the ASGI app as
usual. What it adds is ``DirectWriter``: while a console catches up, an
alert frame (already framed as WebSocket bytes, once per alert per process)
is written straight to the connection's transport, with no coroutine, queue
or ASGI message per console; and once it is live, ``hand_off`` moves the
whole connection to a lighter protocol (``live_console.LiveConsole``) and
lets the ASGI task end. A console whose unsent bytes pass its bound is
closed with 4408 at once, without waiting for its socket to drain.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.streams import StreamReader

_WAITING_FOR_A_FRAME = StreamReader.at_eof.__code__

EXTENSION = "orderbell.direct_write"


class DirectWriter:
    """Writes pre-framed WebSocket bytes to one connection's transport."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: ConsoleWebSocketProtocol) -> None:
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

    @property
    def connections(self) -> set[Any]:
        """The server's set of open connections (its graceful shutdown walks it)."""
        return self._protocol.connections

    def hand_off(self, protocol: asyncio.Protocol) -> bool:
        """Move the connection to ``protocol`` and leave it alone from now on.

        Done only at a frame boundary: nothing the console sent may sit
        half-parsed or unread here, or it would be lost. Returns False (and
        changes nothing) otherwise, or when the connection is closing.
        """
        old = self._protocol
        if old.close_sent or old.disconnected or old.transport.is_closing():
            return False
        if old.read_paused or not old.queue.empty() or old.frames:
            return False
        conn = old.conn
        if conn.reader.buffer or conn.current_size is not None or conn.parser_exc is not None:
            return False
        # The frame parser must be waiting for the first byte of a new frame.
        waiting: Any = conn.parser
        while getattr(waiting, "gi_yieldfrom", None) is not None:
            waiting = waiting.gi_yieldfrom
        if getattr(waiting, "gi_code", None) is not _WAITING_FOR_A_FRAME:
            return False
        old.stop_keepalive()
        old.connections.discard(old)
        old.handed_off = True
        transport = old.transport
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        # What stays of the old connection is garbage once the endpoint
        # returns. Its frame parser (a generator holding the parser) and this
        # writer (in the scope the protocol holds) are reference cycles:
        # broken here, thousands of connections are freed at once instead of
        # waiting for a full garbage collection, which would stop the event
        # loop for as long as it takes to walk them.
        conn.parser.close()
        old.scope["extensions"].pop(EXTENSION, None)
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

    handed_off = False

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        # Set before the app's task first runs (it was only scheduled).
        if scope is not None:
            scope["extensions"][EXTENSION] = DirectWriter(self)

    async def run_asgi(self) -> None:
        """Run the app as uvicorn does, but leave a handed-off connection open."""
        try:
            result = await self.app(self.scope, self.receive, self.send)
        except ClientDisconnected:
            pass
        except BaseException:
            self.logger.exception("Exception in ASGI application\n")
            self.send_500_response()
        else:
            if not self.handshake_complete:
                self.logger.error("ASGI callable returned without completing handshake.")
                self.send_500_response()
            elif result is not None:
                self.logger.error("ASGI callable should return None, but returned '%s'.", result)
        if self.handed_off:
            return
        if self.close_timer is None:
            self.transport.close()


def direct_writer(scope: Any) -> DirectWriter | None:
    """The connection's direct writer, if the server offers one."""
    writer = (scope.get("extensions") or {}).get(EXTENSION)
    return writer if isinstance(writer, DirectWriter) else None
