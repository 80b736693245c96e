"""The console endpoint ``/ws/{sid}``: where a merchant's console connects and catches up.

The original protocol is kept: JSON text frames ``{"type", "orderId",
"content", ...}``, one per alert. A console must prove who it is (a merchant
token in the ``token`` query parameter) and then receives the alerts of that
merchant's shop only. ``since=<seq>`` resumes after the last alert the
console saw; ``protocol=2`` (or the subprotocol ``orderbell.v2``) adds the
control frames. docs/protocol.md describes it all.

Once caught up, a console's connection is handed to a ``LiveConsole``
(``live_console``), which writes its alerts from then on; under a server
that cannot hand it off, the endpoint keeps writing them itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from orderbell.delivery.frames import Frame, encode_alert
from orderbell.delivery.presence.registry import Attendance, check_device_id, check_kind
from orderbell.domain.errors import Unauthorized
from orderbell.parts import Orderbell
from orderbell.protocol import (
    CLIENT_FRAME_BURST,
    CLIENT_FRAMES_PER_SECOND,
    CLOSE_BAD_REQUEST,
    CLOSE_FORBIDDEN,
    CLOSE_POLICY_VIOLATION,
    CLOSE_TOO_MANY_CONSOLES,
    CLOSE_TOO_SLOW,
    CLOSE_UNAUTHORIZED,
    CLOSE_UNSUPPORTED_DATA,
    SUBPROTOCOL_V2,
    control,
    now_iso,
)
from orderbell.services import replay
from orderbell.web.guards import origin_allowed
from orderbell.web.live_console import FrameBudget, LiveConsoles
from orderbell.web.ws_protocol import direct_writer

log = logging.getLogger(__name__)
router = APIRouter(tags=["console"])


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
        self._replayed_up_to = 0
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
        if frame.seq is not None and frame.seq <= self._replayed_up_to:
            # The replay sent it already: the alert was committed before the
            # log was read but reached this process's hub only afterwards.
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
        self._replayed_up_to = replayed_up_to
        # ``offer`` now drops what the replay sent and queues the rest.
        for frame in held:
            if not self.offer(frame):
                return
        if self._direct is None:
            self._writer = asyncio.create_task(self._write())

    def hand_off(self, consoles: LiveConsoles, device: Attendance | None = None) -> bool:
        """Move a live console's connection off ASGI, onto a ``LiveConsole``.

        Possible where the server offers a direct writer, once the console is
        live. On True this console is done: the hub delivers to the live one,
        and the endpoint's task may end. On False nothing changed.
        """
        direct = self._direct
        if direct is None or self._closed or self._held is not None:
            return False
        live = consoles.adopt(
            direct.hand_off,
            self,
            shop_id=self._shop_id,
            control_frames=self._control_frames,
            max_buffer=self._max_buffer,
            replayed_up_to=self._replayed_up_to,
            connections=direct.connections,
            device=device,
        )
        if live is None:
            return False
        self._closed = True
        return True

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


def _origin_allowed(websocket: WebSocket, allowed: list[str]) -> bool:
    return origin_allowed(websocket.headers.get("origin"), websocket.headers.get("host"), allowed)


def _wants_v2(websocket: WebSocket) -> bool:
    offered = websocket.scope.get("subprotocols") or []
    return websocket.query_params.get("protocol") == "2" or SUBPROTOCOL_V2 in offered


def _since(websocket: WebSocket) -> int | None:
    raw = websocket.query_params.get("since")
    if raw is None or raw == "":
        return None
    # ASCII only: str.isdigit() also takes other scripts' digits and superscripts.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise ValueError("since must be a whole number >= 0")
    return int(raw)


def _device(websocket: WebSocket, sid: str) -> tuple[str, str]:
    """The console's ``deviceId`` (its sid unless given) and ``kind``.

    Raises:
        ValueError: either is not acceptable (the message says why).
    """
    device_id = websocket.query_params.get("deviceId")
    return check_device_id(sid if device_id is None else device_id), check_kind(
        websocket.query_params.get("kind")
    )


@router.websocket("/ws/{sid}")
async def console_socket(websocket: WebSocket, sid: str) -> None:
    """A merchant console: authenticate with ``?token=``, then receive the shop's alerts."""
    parts: Orderbell = websocket.app.state.orderbell
    if not _origin_allowed(websocket, parts.settings.allowed_origins):
        # Closing before accepting refuses the handshake (HTTP 403): a page of
        # a foreign site gets no socket at all (cross-site WebSocket hijacking).
        await websocket.close(CLOSE_POLICY_VIOLATION)
        return
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
        device_id, kind = _device(websocket, sid)
    except ValueError as exc:
        await websocket.close(CLOSE_BAD_REQUEST, str(exc))
        return
    shop_id = identity.shop_id
    limit = parts.settings.max_consoles_per_shop
    # Counted and joined with no await between: the cap holds under a rush.
    if parts.hub.count(shop_id) >= limit:
        await websocket.close(
            CLOSE_TOO_MANY_CONSOLES, f"this shop already has {limit} consoles here"
        )
        return

    console = SocketConsole(
        websocket,
        shop_id,
        control_frames=v2,
        max_buffer=parts.settings.console_buffer_bytes,
    )
    await parts.hub.join(console)
    handed_off = False
    device: Attendance | None = None
    try:
        device = await parts.presence.arrive(shop_id, device_id, kind, identity.user_id)
        await _catch_up(websocket, parts, console, shop_id, since, v2)
        # From here on a live console needs no task of its own.
        handed_off = console.hand_off(parts.consoles, device)
        if handed_off:
            return
        budget = FrameBudget(CLIENT_FRAME_BURST, CLIENT_FRAMES_PER_SECOND)
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            # Binary frames are not part of the protocol.
            if message.get("bytes") is not None:
                await websocket.close(CLOSE_UNSUPPORTED_DATA, "binary frames are not accepted")
                break
            if not budget.take():
                await websocket.close(CLOSE_POLICY_VIOLATION, "too many frames")
                break
            # A protocol-2 console may say how it is (``status``) and what it
            # did with an alert (``ack``); other text frames are ignored, as
            # the original did. Routed as a live console's are.
            text = message.get("text")
            if v2 and text is not None and device is not None:
                parts.consoles.hear(device, text)
    except WebSocketDisconnect:
        pass  # the console went away while the endpoint was sending to it
    except Exception:
        # Not the console's doing (that ends in a close or a disconnect): a
        # fault of the server, the database or a library, which must be seen.
        log.warning("console of shop %s ended with an unexpected error", shop_id, exc_info=True)
    finally:
        if not handed_off:
            if device is not None:
                parts.presence.depart(device)
            await _leave(parts, console)


async def _leave(parts: Orderbell, console: SocketConsole) -> None:
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
    # A console without ``since`` is sent nothing from the log: only the
    # latest seq is read for it, never the alert rows.
    state = await replay.catch_up(parts.database, shop_id, since, parts.retention, unhandled=v2)
    window = state.window
    if v2:
        await websocket.send_text(
            control(
                "hello",
                protocol=2,
                shopId=shop_id,
                serverTime=now_iso(),
                latestSeq=state.latest_seq,
                heartbeat=parts.settings.heartbeat_seconds,
            ).decode()
        )
    replayed_up_to = 0
    replayed = 0
    if since is not None and window is not None:
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
        replayed = len(window.alerts)
        parts.metrics.replayed.inc(replayed)
        replayed_up_to = window.latest_seq
    if v2:
        # Every open alert, however many: a console rings for exactly these.
        await websocket.send_text(
            control(
                "synced",
                latestSeq=state.latest_seq,
                replayed=replayed,
                unhandled=state.unhandled,
            ).decode()
        )
    console.go_live(replayed_up_to)
