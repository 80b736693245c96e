"""The console endpoint ``/ws/{sid}``: where an alert is written to a merchant's socket.

The original protocol is kept: JSON text frames ``{"type", "orderId",
"content", ...}``, one per alert. A console must prove who it is (a merchant
token in the ``token`` query parameter) and then receives the alerts of that
merchant's shop only. ``since=<seq>`` resumes after the last alert the
console saw; ``protocol=2`` (or the subprotocol ``orderbell.v2``) adds the
control frames. docs/protocol.md describes it all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketState

from orderbell.bootstrap import Orderbell
from orderbell.delivery.frames import Frame, control, encode_alert, now_iso
from orderbell.domain.errors import Unauthorized
from orderbell.services import replay
from orderbell.web.ws_protocol import direct_writer

log = logging.getLogger(__name__)
router = APIRouter(tags=["console"])

CLOSE_GOING_AWAY = 1001
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_SLOW = 4408
SUBPROTOCOL_V2 = "orderbell.v2"


class SocketConsole:
    """A console behind an ASGI WebSocket: frames queue here and a writer task sends them.

    ``offer`` never awaits. While the console is catching up from the log,
    live frames are held and later passed on only if newer than what the
    replay sent. The queue is bounded in bytes; a console that lets it
    overflow is cut off (close code 4408) instead of holding memory or
    anyone else up, and recovers by resuming.
    """

    def __init__(
        self, websocket: WebSocket, shop_id: int, *, control_frames: bool, max_buffer: int
    ) -> None:
        self._websocket = websocket
        # Where the server offers it, live frames skip the queue and the
        # writer task: one transport write per console per alert.
        self._direct = direct_writer(websocket.scope)
        self._shop_id = shop_id
        self._control_frames = control_frames
        self._max_buffer = max_buffer
        self._queue: deque[Frame] = deque()
        self._queued = 0
        self._held: list[Frame] | None = []
        self._ready = asyncio.Event()
        self._closed = False
        self._writer: asyncio.Task[None] | None = None
        self.too_slow = False

    @property
    def shop_id(self) -> int:
        """The shop whose alerts this console receives."""
        return self._shop_id

    def offer(self, frame: Frame) -> bool:
        """Queue a frame; False once the console is closed or over its bound."""
        if self._closed:
            return False
        if frame.control and not self._control_frames:
            return True
        if self._held is not None:
            self._held.append(frame)
            return True
        return self._enqueue(frame)

    def _enqueue(self, frame: Frame) -> bool:
        direct = self._direct
        if direct is not None:
            if direct.buffered() + frame.size > self._max_buffer:
                self._cut_off()
                return False
            return direct.write(frame.wire)
        if self._queued + frame.size > self._max_buffer:
            self._cut_off()
            return False
        self._queue.append(frame)
        self._queued += frame.size
        self._ready.set()
        return True

    def go_live(self, replayed_up_to: int) -> None:
        """End the catch-up: pass on held frames newer than ``replayed_up_to``, start writing."""
        held, self._held = self._held or [], None
        for frame in held:
            if (frame.seq is None or frame.seq > replayed_up_to) and not self._enqueue(frame):
                return
        if self._direct is None:
            self._writer = asyncio.create_task(self._write())

    def close(self) -> None:
        """Stop taking frames and stop the writer."""
        self._closed = True
        self._queue.clear()
        self._ready.set()
        if self._writer is not None:
            self._writer.cancel()

    async def wait_closed(self) -> None:
        """Wait for the writer to end."""
        if self._writer is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._writer

    def _cut_off(self) -> None:
        self.too_slow = True
        self.close()
        if self._direct is not None:
            self._direct.close(CLOSE_TOO_SLOW, "too slow")
            return
        # The writer may be stuck on a full socket; the close frame is queued
        # behind it, and the server's ping timeout ends a peer that never reads.
        asyncio.get_running_loop().create_task(self._close_socket(CLOSE_TOO_SLOW, "too slow"))

    async def _close_socket(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            if self._websocket.application_state is WebSocketState.CONNECTED:
                await self._websocket.close(code, reason)

    async def _write(self) -> None:
        send = self._websocket.send_text
        queue = self._queue
        while not self._closed:
            await self._ready.wait()
            self._ready.clear()
            while queue:
                frame = queue.popleft()
                self._queued -= frame.size
                await send(frame.text)


def _wants_v2(websocket: WebSocket) -> bool:
    offered = websocket.scope.get("subprotocols") or []
    return websocket.query_params.get("protocol") == "2" or SUBPROTOCOL_V2 in offered


def _since(websocket: WebSocket) -> int | None:
    raw = websocket.query_params.get("since")
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ValueError("since must be a whole number >= 0")
    return int(raw)


@router.websocket("/ws/{sid}")
async def console_socket(websocket: WebSocket, sid: str) -> None:
    """A merchant console: authenticate with ``?token=``, then receive the shop's alerts."""
    parts: Orderbell = websocket.app.state.orderbell
    v2 = _wants_v2(websocket)
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol=SUBPROTOCOL_V2 if SUBPROTOCOL_V2 in offered else None)
    try:
        token = websocket.query_params.get("token")
        if not token:
            raise Unauthorized("missing token")
        identity = parts.tokens.verify(token)
    except Unauthorized as exc:
        await websocket.close(CLOSE_UNAUTHORIZED, exc.message[:120])
        return
    if identity.shop_id is None:
        await websocket.close(CLOSE_FORBIDDEN, "a merchant login is needed")
        return
    try:
        since = _since(websocket)
    except ValueError as exc:
        await websocket.close(CLOSE_BAD_REQUEST, str(exc))
        return
    shop_id = identity.shop_id

    console = SocketConsole(
        websocket,
        shop_id,
        control_frames=v2,
        max_buffer=parts.settings.console_buffer_bytes,
    )
    await parts.hub.join(console)
    try:
        await _catch_up(websocket, parts, console, shop_id, since, v2)
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            # Frames from consoles carry nothing the server needs (a pong at most).
    except Exception:
        log.debug("console of shop %s ended with an error", shop_id, exc_info=True)
    finally:
        console.close()
        await parts.hub.leave(console)
        await console.wait_closed()
        if console.too_slow:
            parts.metrics.slow_disconnects.inc()


async def _catch_up(
    websocket: WebSocket,
    parts: Orderbell,
    console: SocketConsole,
    shop_id: int,
    since: int | None,
    v2: bool,
) -> None:
    # Joined the hub first (live frames are held), then read the log, then
    # go live dropping what the replay already sent: nothing missed, nothing twice.
    if since is None and not v2:
        console.go_live(0)
        return
    window = await replay.resume(parts.database, shop_id, since or 0, parts.retention)
    if v2:
        await websocket.send_text(
            control(
                "hello",
                protocol=2,
                shopId=shop_id,
                serverTime=now_iso(),
                latestSeq=window.latest_seq,
                heartbeat=parts.settings.heartbeat_seconds,
            ).decode()
        )
    replayed_up_to = 0
    if since is not None:
        if window.reset and v2:
            oldest = window.alerts[0].seq if window.alerts else window.latest_seq + 1
            await websocket.send_text(
                control(
                    "reset",
                    since=since,
                    latestSeq=window.latest_seq,
                    oldestSeq=oldest,
                    reason="ahead of the log" if since > window.latest_seq else "beyond retention",
                ).decode()
            )
        # Awaited one by one: a slow console slows only its own replay.
        for alert in window.alerts:
            await websocket.send_text(encode_alert(alert).decode())
        parts.metrics.replayed.inc(len(window.alerts))
        replayed_up_to = window.latest_seq
    if v2:
        unhandled = await replay.open_alerts(parts.database, shop_id)
        await websocket.send_text(
            control(
                "synced",
                latestSeq=window.latest_seq,
                replayed=len(window.alerts) if since is not None else 0,
                unhandled=[a.seq for a in unhandled],
            ).decode()
        )
    console.go_live(replayed_up_to)
