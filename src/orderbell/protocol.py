"""The console protocol: what travels on ``/ws/{sid}``, defined once.

The server (``web/``, ``delivery/``) and the SDK (``client/``) both import
these names, so a close code, the subprotocol name, a budget or the shape of
a control frame cannot differ between the two ends. ``docs/protocol.md``
documents the same values; a test holds it to this module.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from typing import Any

import orjson

#: The subprotocol a console offers to get protocol 2 (control frames);
#: the query parameter ``protocol=2`` does the same.
SUBPROTOCOL_V2 = "orderbell.v2"

# Close codes the server sends (RFC 6455 section 7.4, and 4xxx of our own).
#: The server is going away for good (not sent on shutdown: see 1012).
CLOSE_GOING_AWAY = 1001
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_INVALID_DATA = 1007
CLOSE_POLICY_VIOLATION = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011
#: The server is restarting or stopping: reconnect (to another process).
CLOSE_SERVICE_RESTART = 1012
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_SLOW = 4408
CLOSE_TOO_MANY_CONSOLES = 4429

#: Frames a console may send in a burst, and per second after that. The
#: protocol needs none (pongs are WebSocket control frames, not counted);
#: this leaves room for clients that send their own keep-alive text, and
#: ends one that floods the server with frames it reads for nothing.
CLIENT_FRAME_BURST = 60
CLIENT_FRAMES_PER_SECOND = 5.0
#: The largest frame or message a console may send: consoles send nothing
#: large, so a big one is a mistake or an attack.
MAX_CONSOLE_MESSAGE = 64 * 1024

#: WebSocket opcodes (RFC 6455).
OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA


def server_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """``payload`` as one unmasked, final WebSocket frame (RFC 6455, server side);
    a text frame unless ``opcode`` says otherwise."""
    first = 0x80 | opcode
    size = len(payload)
    if size < 126:
        header = bytes((first, size))
    elif size < 1 << 16:
        header = struct.pack("!BBH", first, 126, size)
    else:
        header = struct.pack("!BBQ", first, 127, size)
    return header + payload


def now_iso() -> str:
    """The current UTC time as frames write it."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def control(type: str, **fields: Any) -> bytes:
    """A control frame ``{"type": <type>, ...}`` (protocol 2 only)."""
    return orjson.dumps({"type": type, **fields})
