"""The WebSocket transport under the console endpoint, with a direct write path.

uvicorn's sans-I/O WebSocket protocol runs the handshake and the ASGI app as
usual. What it adds is ``DirectWriter``: while a console catches up, an
alert frame (already framed as WebSocket bytes, once per alert per process)
is written straight to the connection's transport, with no coroutine, queue
or ASGI message per console; and once it is live, ``hand_off`` moves the
whole connection to a lighter protocol (``live_console.LiveConsole``) and
lets the ASGI task end. A console whose unsent bytes pass its bound is
closed with 4408 at once, without waiting for its socket to drain.

All of this reads private names of uvicorn's protocol and of websockets'
frame parser, which change between releases. That coupling is fenced here:
pyproject.toml allows only the releases this module was tested with, and
``hand_off_unsupported`` (run once at startup, by ``serving``) says why the
installed releases cannot do the hand-off, by looking for every name it
uses and then handing off a connection made up for the purpose. When it
cannot, the server runs uvicorn's own protocol and consoles stay on ASGI.
"""

from __future__ import annotations

import asyncio
import base64
import os
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

_NOT_IMPORTED: str | None = None
try:
    from uvicorn.protocols.utils import ClientDisconnected
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
    from websockets.streams import StreamReader
except ImportError as exc:  # an install outside the tested releases
    _NOT_IMPORTED = f"cannot import what it builds on ({exc})"
    ClientDisconnected = OSError  # type: ignore[misc,assignment]
    WebSocketsSansIOProtocol = asyncio.Protocol  # type: ignore[misc,assignment]
    StreamReader = object  # type: ignore[misc,assignment]

if TYPE_CHECKING:
    from websockets.http11 import Request

EXTENSION = "orderbell.direct_write"

#: What ``ConsoleWebSocketProtocol`` and ``DirectWriter`` use of uvicorn's
#: protocol: its methods, then what its ``__init__`` sets on each connection.
PROTOCOL_METHODS = ("handle_connect", "run_asgi", "send", "send_500_response", "stop_keepalive")
PROTOCOL_STATE = (
    "app",
    "close_sent",
    "close_timeout",
    "close_timer",
    "conn",
    "connections",
    "disconnected",
    "frames",
    "handshake_complete",
    "logger",
    "loop",
    "queue",
    "read_paused",
    "transport",
)
#: What ``DirectWriter`` uses of websockets' protocol (uvicorn's ``conn``).
PARSER_METHODS = ("data_to_send", "send_close")
PARSER_STATE = ("current_size", "parser", "parser_exc", "reader")


# Between two frames websockets' parser waits in ``StreamReader.at_eof``.
_WAITING_FOR_A_FRAME = getattr(getattr(StreamReader, "at_eof", None), "__code__", None)


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
        code = getattr(waiting, "gi_code", None)
        if code is None or code is not _WAITING_FOR_A_FRAME:
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
        """Accept the handshake as uvicorn does, and put the writer in the scope."""
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

    async def send(self, message: Any) -> None:
        """Send as uvicorn does, except on a connection the protocol closed under the app.

        A console that broke the protocol (a text frame that is not UTF-8,
        say) or stopped answering pings is closed by the protocol itself,
        perhaps while the endpoint is still sending its replay. uvicorn
        answers that send with a ``RuntimeError``, which reads as a bug of
        the app; for the app the connection is gone, which ASGI says is an
        ``OSError`` (uvicorn's ``ClientDisconnected``).
        """
        if self.close_sent and message["type"] in ("websocket.send", "websocket.close"):
            raise ClientDisconnected()
        await super().send(message)


def direct_writer(scope: Any) -> DirectWriter | None:
    """The connection's direct writer, if the server offers one."""
    writer = (scope.get("extensions") or {}).get(EXTENSION)
    return writer if isinstance(writer, DirectWriter) else None


def hand_off_unsupported() -> str | None:
    """Why the installed uvicorn and websockets cannot hand consoles off; None when they can.

    Looks for every private name the hand-off uses, then runs one made-up
    connection through ``ConsoleWebSocketProtocol`` (handshake, accept,
    hand-off) on an event loop of its own, in a thread of its own, so it can
    be called from anywhere, before the server starts. Takes a few
    milliseconds; meant to be called once per process.
    """
    releases = f"uvicorn {version('uvicorn')} with websockets {version('websockets')}"
    reason = _missing_name()
    if reason is None:
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="hand-off-check") as pool:
                reason = pool.submit(asyncio.run, _hand_off_one()).result(timeout=10)
        except Exception as exc:
            reason = f"a test connection failed: {exc!r}"
    return None if reason is None else f"{releases}: {reason}"


def _missing_name() -> str | None:
    if _NOT_IMPORTED is not None:
        return _NOT_IMPORTED
    for name in PROTOCOL_METHODS:
        if not callable(getattr(WebSocketsSansIOProtocol, name, None)):
            return f"uvicorn's WebSocketsSansIOProtocol has no {name}()"
    if _WAITING_FOR_A_FRAME is None:
        return "websockets' StreamReader has no at_eof()"
    return None


class _Transport(asyncio.Transport):
    """A connection that goes nowhere, for the check."""

    def __init__(self) -> None:
        super().__init__()
        self.protocol: asyncio.BaseProtocol | None = None
        self.closing = False

    def write(self, data: Any) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        assert self.protocol is not None
        return self.protocol

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


async def _hand_off_one() -> str | None:
    import uvicorn
    from uvicorn.server import ServerState

    accepted = asyncio.Event()
    done = asyncio.Event()

    async def console(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        accepted.set()
        await done.wait()

    config = uvicorn.Config(
        console,
        ws_per_message_deflate=False,
        ws_ping_interval=None,
        lifespan="off",
        log_config=None,
    )
    config.load()
    protocol = ConsoleWebSocketProtocol(config, ServerState(), {})
    missing = [name for name in PROTOCOL_STATE if not hasattr(protocol, name)]
    if missing:
        return f"uvicorn's WebSocketsSansIOProtocol sets no {', '.join(missing)}"
    missing = [name for name in PARSER_METHODS if not callable(getattr(protocol.conn, name, None))]
    missing += [name for name in PARSER_STATE if not hasattr(protocol.conn, name)]
    if not hasattr(getattr(protocol.conn, "reader", None), "buffer"):
        missing.append("reader.buffer")
    if missing:
        return f"websockets' ServerProtocol has no {', '.join(missing)}"
    transport = _Transport()
    protocol.connection_made(transport)
    key = base64.b64encode(os.urandom(16)).decode()
    protocol.data_received(
        (
            "GET /ws/check HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    try:
        await asyncio.wait_for(accepted.wait(), 5)
        writer = direct_writer(getattr(protocol, "scope", {}))
        if writer is None:
            return "the connection's scope carries no direct writer"
        successor = asyncio.Protocol()
        if not writer.hand_off(successor) or transport.protocol is not successor:
            return "a connection between two frames was not handed off"
        return None
    finally:
        # The made-up console's app returns, and its task ends as a handed-off one does.
        done.set()
        tasks = list(protocol.tasks)
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        for task in tasks:
            task.cancel()
