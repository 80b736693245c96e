"""WebSocket frames in tests: reading a console's frames, and building the masked
frames a console sends (for tests that feed a server protocol byte by byte)."""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import Collection
from typing import Any

import orjson


async def collect(
    ws: Any,
    count: int,
    within: float = 15,
    *,
    presence: bool = False,
    skip: Collection[str] = (),
) -> list[dict[str, Any]]:
    """Read JSON frames from a `websockets` connection until ``count`` or the timeout.

    ``presence`` frames (the shop's device list, sent whenever a console comes
    or goes) are skipped unless asked for: most tests are about alerts. Frames
    of the types in ``skip`` (a heartbeat's ``ping`` on a slow run) are skipped too."""
    frames: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while len(frames) < count:
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        try:
            frame = orjson.loads(await asyncio.wait_for(ws.recv(), remaining))
        except TimeoutError:
            break
        kind = frame.get("type") if isinstance(frame, dict) else None
        if (presence or kind != "presence") and kind not in skip:
            frames.append(frame)
    return frames


async def silence(ws: Any, seconds: float = 0.5) -> list[Any]:
    """Frames that arrive within ``seconds`` (expected: none)."""
    try:
        return [await asyncio.wait_for(ws.recv(), seconds)]
    except TimeoutError:
        return []


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
