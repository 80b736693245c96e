"""The hand-off of a console's connection happens only at a frame boundary,
and only where the startup check found every name it uses.

Run on uvicorn's real WebSocket protocol (orderbell's subclass) with a
recording transport: the boundary check reads the state of that protocol's
frame parser, so the parser must be the real one. An upgrade that takes a
name away is simulated by taking it off the class.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.protocol import Protocol
from websockets.server import ServerProtocol

from orderbell.logs import install_filters
from orderbell.web import ws_protocol
from orderbell.web.ws_protocol import ConsoleWebSocketProtocol, DirectWriter, hand_off_unsupported
from tests.support.transports import RecordingTransport as Transport
from tests.unit.client_frames import masked


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


# The fence around the private names: what the startup check says.


def test_the_check_passes_on_the_pinned_releases() -> None:
    assert hand_off_unsupported() is None


@pytest.mark.parametrize(
    ("owner", "name"),
    [
        (WebSocketsSansIOProtocol, "stop_keepalive"),
        (WebSocketsSansIOProtocol, "send_500_response"),
        (Protocol, "send_close"),
    ],
)
def test_the_check_names_a_method_an_upgrade_took_away(
    monkeypatch: pytest.MonkeyPatch, owner: type, name: str
) -> None:
    monkeypatch.delattr(owner, name)
    reason = hand_off_unsupported()
    assert reason is not None and name in reason
    assert reason.startswith(f"uvicorn {uvicorn.__version__} with websockets ")


@pytest.mark.parametrize("name", ["current_size", "parser_exc"])
def test_the_check_names_parser_state_an_upgrade_took_away(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    setup = ServerProtocol.__init__

    def without(self: Any, *args: Any, **kwargs: Any) -> None:
        setup(self, *args, **kwargs)
        delattr(self, name)

    monkeypatch.setattr(ServerProtocol, "__init__", without)
    reason = hand_off_unsupported()
    assert reason is not None and name in reason


def test_the_check_finds_a_parser_that_waits_elsewhere_between_frames(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As if websockets' parser waited for the next frame in another method:
    # every name is there, but no connection would ever be handed off.
    monkeypatch.setattr(ws_protocol, "_WAITING_FOR_A_FRAME", masked.__code__)
    reason = hand_off_unsupported()
    assert reason is not None and "not handed off" in reason


# What a console sends wrong, before it is handed off (on the ASGI path).


@pytest.fixture
def client_faults() -> Any:
    """uvicorn's error logger with orderbell's filters, its records kept."""
    logger = logging.getLogger("uvicorn.error")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep, level, filters = Keep(), logger.level, list(logger.filters)
    logger.addHandler(keep)
    logger.setLevel(logging.INFO)
    install_filters()
    yield records
    logger.removeHandler(keep)
    logger.setLevel(level)
    logger.filters[:] = filters


async def test_a_text_frame_that_is_not_utf8_is_one_info_line_and_a_1007(
    accepted: Any, client_faults: list[logging.LogRecord]
) -> None:
    protocol, transport = accepted
    protocol.data_received(masked(0x1, b"\xff\xfe order"))
    assert transport.written[-1][:4] == b"\x88\x02\x03\xef", "close frame, code 1007"
    assert transport.closed
    [record] = [r for r in client_faults if r.levelno > logging.DEBUG and "UTF-8" in r.getMessage()]
    assert record.levelno == logging.INFO and record.exc_info is None
    assert not [r for r in client_faults if r.levelno >= logging.WARNING]
    # The endpoint, still catching up, sends on: for it the console is gone.
    with pytest.raises(ClientDisconnected):
        await protocol.send({"type": "websocket.send", "text": "alert"})
    assert await protocol.receive() == {"type": "websocket.disconnect", "code": 1007, "reason": ""}
