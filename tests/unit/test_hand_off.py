"""The hand-off of a console's connection happens only at a frame boundary.

Run on uvicorn's real WebSocket protocol (orderbell's subclass) with a
recording transport: the boundary check reads the state of that protocol's
frame parser, so the parser must be the real one.
"""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from orderbell.web.ws_protocol import ConsoleWebSocketProtocol, DirectWriter
from tests.unit.client_frames import masked


class Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.protocol: Any = None
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


class Successor(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport


async def holding_app(scope: Any, receive: Any, send: Any) -> None:
    """Accepts the console, then holds it (as the endpoint does while it catches up)."""
    await receive()
    await send({"type": "websocket.accept"})
    await asyncio.Event().wait()


@pytest.fixture
async def accepted() -> Any:
    config = uvicorn.Config(holding_app, ws_per_message_deflate=False, ws_ping_interval=None)
    config.load()
    protocol = ConsoleWebSocketProtocol(config, ServerState(), {})
    transport = Transport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    key = base64.b64encode(os.urandom(16)).decode()
    protocol.data_received(
        (
            "GET /ws/console HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    for _ in range(5):
        await asyncio.sleep(0)
    assert protocol.handshake_complete
    yield protocol, transport
    for task in list(protocol.tasks):
        task.cancel()


async def test_a_connection_between_frames_is_handed_off(accepted: Any) -> None:
    protocol, transport = accepted
    successor = Successor()
    assert DirectWriter(protocol).hand_off(successor)
    assert transport.protocol is successor and successor.transport is transport
    assert protocol not in protocol.connections


@pytest.mark.parametrize(
    "cut", [1, 2, 6, 8], ids=["in-header", "header", "header+mask", "in-payload"]
)
async def test_half_a_frame_keeps_the_connection_where_it_is(accepted: Any, cut: int) -> None:
    protocol, transport = accepted
    frame = masked(0x1, b"hello")
    protocol.data_received(frame[:cut])
    successor = Successor()
    assert not DirectWriter(protocol).hand_off(successor)
    assert transport.protocol is None, "nothing moved"
    # The rest of the frame completes a message the endpoint has to read
    # first; once it has, the connection is at a boundary again.
    protocol.data_received(frame[cut:])
    assert not DirectWriter(protocol).hand_off(successor)
    message = await protocol.receive()
    assert message == {"type": "websocket.receive", "text": "hello"}
    assert DirectWriter(protocol).hand_off(successor)
    assert transport.protocol is successor
