"""The console endpoint ``/ws/{sid}``: where an alert is written to a merchant's socket.

The original protocol is kept: JSON text frames ``{"type", "orderId",
"content", ...}``, one per alert. What orderbell adds is that the socket must
prove who it is (a merchant token in the ``token`` query parameter) and then
receives the alerts of that merchant's shop only.

Close codes (also in docs/protocol.md):

- 4401: no token, or a token that is invalid or expired; log in again.
- 4403: a token that is valid but not a merchant's.
- 4408: the console fell too far behind (its outgoing buffer passed the
  bound); reconnect.
- 1001: the server is shutting down; reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from fastapi import APIRouter, Query, WebSocket
from starlette.websockets import WebSocketState

from orderbell.bootstrap import Orderbell
from orderbell.domain.errors import Unauthorized

router = APIRouter(tags=["console"])

CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_SLOW = 4408
MAX_BUFFER_CHARS = 1 << 20


class SocketConsole:
    """A console behind an ASGI WebSocket: frames queue here and a writer task sends them.

    ``offer`` never awaits. The queue is bounded; a console that lets it
    overflow is closed with 4408 instead of holding memory or anyone else up.
    """

    def __init__(self, websocket: WebSocket, shop_id: int, sid: str, *, max_buffer: int) -> None:
        self._websocket = websocket
        self._shop_id = shop_id
        self.sid = sid
        self._max_buffer = max_buffer
        self._queue: deque[str] = deque()
        self._queued = 0
        self._ready = asyncio.Event()
        self._closed = False
        self.too_slow = False

    @property
    def shop_id(self) -> int:
        """The shop whose alerts this console receives."""
        return self._shop_id

    def offer(self, frame: str) -> bool:
        """Queue a frame; False once the console is closed or over its bound."""
        if self._closed:
            return False
        if self._queued + len(frame) > self._max_buffer:
            self.too_slow = True
            self.close()
            return False
        self._queue.append(frame)
        self._queued += len(frame)
        self._ready.set()
        return True

    def close(self) -> None:
        """Stop taking frames and let the writer finish."""
        self._closed = True
        self._ready.set()

    async def write(self) -> None:
        """Send queued frames until closed; then close the socket if it is still open."""
        ws = self._websocket
        while True:
            await self._ready.wait()
            self._ready.clear()
            if self.too_slow:
                break
            while self._queue:
                frame = self._queue.popleft()
                self._queued -= len(frame)
                await ws.send_text(frame)
            if self._closed:
                break
        if self.too_slow and ws.application_state is WebSocketState.CONNECTED:
            await ws.close(CLOSE_TOO_SLOW, "console too slow; reconnect")


@router.websocket("/ws/{sid}")
async def console_socket(
    websocket: WebSocket, sid: str, token: str | None = Query(None, max_length=4096)
) -> None:
    """A merchant console: authenticate with ``?token=``, then receive the shop's alerts."""
    parts: Orderbell = websocket.app.state.orderbell
    await websocket.accept()
    try:
        if not token:
            raise Unauthorized("missing token")
        identity = parts.tokens.verify(token)
    except Unauthorized as exc:
        await websocket.close(CLOSE_UNAUTHORIZED, exc.message[:120])
        return
    if identity.shop_id is None:
        await websocket.close(CLOSE_FORBIDDEN, "a merchant login is needed")
        return

    console = SocketConsole(websocket, identity.shop_id, sid, max_buffer=MAX_BUFFER_CHARS)
    await parts.hub.join(console)
    writer = asyncio.create_task(console.write())
    try:
        # Frames from the console are not part of the original protocol: read
        # them only to notice the close.
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
    finally:
        console.close()
        await parts.hub.leave(console)
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await writer
