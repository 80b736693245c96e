"""WebSocket frames as a console sends them, for tests that feed a server protocol."""

from __future__ import annotations

import os
import struct


def masked(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    """A client frame: clients mask every frame (RFC 6455)."""
    mask = os.urandom(4)
    first = opcode | (0x80 if fin else 0)
    size = len(payload)
    if size < 126:
        head = bytes((first, 0x80 | size))
    elif size < 1 << 16:
        head = bytes((first, 0x80 | 126)) + struct.pack("!H", size)
    else:
        head = bytes((first, 0x80 | 127)) + struct.pack("!Q", size)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + body
