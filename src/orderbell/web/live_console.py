"""Live consoles: a caught-up console's connection, held without ASGI.

A console connects through the ASGI endpoint (``console_socket``): handshake,
origin check, login, replay and the ``synced`` frame all run there. Once it
is live, its connection is taken over by a ``LiveConsole``, a small protocol
object on the same transport, and the endpoint's task ends. From then on:

- each alert frame, framed once per alert, is written straight to the
  console's transport (``offer``), with no coroutine, queue or ASGI message;
- the few frames a console sends (pongs, a close, the odd text frame) are
  read by websockets' sans-I/O reader (``ServerProtocol``, made in the OPEN
  state on the adopted transport), which holds them to RFC 6455; this module
  adds only what the console protocol asks of them;
- one keepalive round for the whole process (``LiveConsoles.keep_alive``)
  pings every live console and closes those that stopped answering, instead
  of two timers per connection.

Nothing else stays behind per console: this object, its reader (about
1.4 KB) and the transport keep an idle console to a few KB of server memory
(docs/decisions/live-console-reader.md has the figures). The same port and
path serve the HTTP API and consoles.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from websockets.frames import Frame as WireFrame
from websockets.frames import Opcode
from websockets.protocol import OPEN, SEND_EOF
from websockets.server import ServerProtocol

from orderbell.delivery.consoles import Console
from orderbell.delivery.frames import Frame
from orderbell.delivery.presence.registry import Attendance, Presence
from orderbell.protocol import (
    CLIENT_FRAME_BURST,
    CLIENT_FRAMES_PER_SECOND,
    CLOSE_INTERNAL_ERROR,
    CLOSE_INVALID_DATA,
    CLOSE_POLICY_VIOLATION,
    CLOSE_SERVICE_RESTART,
    CLOSE_TOO_SLOW,
    CLOSE_UNSUPPORTED_DATA,
    MAX_CONSOLE_MESSAGE,
    OP_PING,
    server_frame,
)

log = logging.getLogger(__name__)

#: Seconds a console has to answer our close frame before the connection is dropped.
CLOSE_TIMEOUT = 10.0
#: Live consoles pinged between two looks at the event loop in a keepalive round.
KEEPALIVE_SLICE = 500

PING = server_frame(b"", OP_PING)

utf8_decoder = codecs.getincrementaldecoder("utf-8")


class FrameBudget:
    """A token bucket for the frames a console sends: ``take`` is False once it floods."""

    __slots__ = ("_at", "_burst", "_rate", "_tokens")

    def __init__(self, burst: int, per_second: float) -> None:
        self._burst = float(burst)
        self._rate = per_second
        self._tokens = float(burst)
        self._at = time.monotonic()

    def take(self) -> bool:
        """Spend one frame; False when none is left."""
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class ConsoleHub(Protocol):
    """What live consoles need of the hub."""

    def replace(self, old: Console, new: Console) -> bool:
        """Put ``new`` where ``old`` was among its shop's consoles, at once."""
        ...

    async def leave(self, console: Console) -> None:
        """Stop delivering to ``console``."""
        ...


class FrameListener(Protocol):
    """Where a protocol-2 console's text frames go."""

    def hear(self, device: Attendance, text: str) -> None:
        """A whole text frame of the console that is ``device``."""
        ...


class LiveConsole(asyncio.Protocol):
    """One live console's connection: writes alert frames, reads what the console sends.

    ``offer`` never awaits. A console whose unsent bytes would pass
    ``max_buffer`` is closed with 4408 at once (it resumes with ``since=``)
    instead of holding memory or anyone else up.
    """

    __slots__ = (
        "_budget",
        "_closing",
        "_connections",
        "_control",
        "_device",
        "_max_buffer",
        "_owner",
        "_ping_at",
        "_pong_due",
        "_reader",
        "_replayed_up_to",
        "_text",
        "_timer",
        "_transport",
        "shop_id",
        "too_slow",
    )

    def __init__(
        self,
        owner: LiveConsoles,
        shop_id: int,
        *,
        control_frames: bool,
        max_buffer: int,
        replayed_up_to: int,
        connections: set[Any],
        device: Attendance | None = None,
    ) -> None:
        self._owner = owner
        self.shop_id = shop_id
        # The console as a device of its shop: its status frames go there.
        self._device = device
        self._control = control_frames
        self._max_buffer = max_buffer
        self._replayed_up_to = replayed_up_to
        # The server's set of open connections, which its graceful shutdown
        # walks (``shutdown``) and waits to see emptied.
        self._connections = connections
        self._transport: asyncio.Transport | None = None
        # The handshake is done: the reader starts at the first frame.
        self._reader = ServerProtocol(state=OPEN, max_size=owner.max_message, logger=log)
        # Set while a fragmented text message is being read.
        self._text: codecs.IncrementalDecoder | None = None
        self._budget: FrameBudget | None = None
        self._closing = False
        self._timer: asyncio.TimerHandle | None = None
        self._ping_at = time.monotonic()
        self._pong_due = False
        self.too_slow = False

    # -- what the hub calls ---------------------------------------------------

    def offer(self, frame: Frame) -> bool:
        """Write a frame now; False once the console is closing or over its bound."""
        if self._closing:
            return False
        seq = frame.seq
        if seq is None:
            if not self._control:
                return True
        elif seq <= self._replayed_up_to:
            # The replay sent it already: the alert was committed before the
            # log was read but reached this process's hub only afterwards.
            return True
        transport = self._transport
        assert transport is not None
        if transport.get_write_buffer_size() + frame.size > self._max_buffer:
            self.too_slow = True
            self.close(CLOSE_TOO_SLOW, "too slow")
            return False
        transport.write(frame.wire)
        return True

    # -- closing --------------------------------------------------------------

    def close(self, code: int, reason: str = "") -> None:
        """Send a close frame behind what was written; drop the connection if the
        console has not answered it within ``CLOSE_TIMEOUT``."""
        transport = self._transport
        if self._closing or transport is None or transport.is_closing():
            return
        self._closing = True
        reader = self._reader
        if reader.state is OPEN:
            # A control frame carries at most 125 bytes: the code and 123 of reason.
            reader.send_close(code, reason.encode()[:123].decode(errors="ignore"))
            transport.write(b"".join(reader.data_to_send()))
        # Reading goes on: the console's own close frame completes the closing.
        self._timer = asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, transport.abort)
        # A closing console no longer counts against its shop's cap.
        self._owner.release(self)

    def shutdown(self) -> None:
        """The server is stopping: say so (1012) and close the connection."""
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        self._closing = True
        reader = self._reader
        if reader.state is OPEN:
            reader.send_close(CLOSE_SERVICE_RESTART)
            transport.write(b"".join(reader.data_to_send()))
        transport.close()

    def keep_alive(self, now: float, interval: float, timeout: float) -> None:
        """One keepalive look: ping when ``interval`` has passed since the last ping,
        drop the connection when a ping went ``timeout`` without a pong."""
        transport = self._transport
        if self._closing or transport is None:
            return
        if self._pong_due:
            if now - self._ping_at >= timeout:
                # The peer vanished without a close (a dead link, a frozen
                # process): the close frame goes out if the socket takes it
                # now, and nothing waits for an answer that will not come.
                self._closing = True
                self._reader.fail(CLOSE_INTERNAL_ERROR, "keepalive ping timeout")
                transport.write(b"".join(self._reader.data_to_send()))
                transport.abort()
                self._owner.release(self)
            return
        if now - self._ping_at >= interval:
            self._ping_at = now
            self._pong_due = True
            transport.write(PING)

    # -- asyncio.Protocol -----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Take the transport over (after the handshake, from the ASGI protocol)."""
        self._transport = transport  # type: ignore[assignment]
        self._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the console: hub, keepalive and the server's connections."""
        self._closing = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._connections.discard(self)
        self._owner.release(self)

    def eof_received(self) -> bool | None:
        """The console closed its side: close ours too (returning None does)."""
        return None

    def data_received(self, data: bytes) -> None:
        """Parse ``data`` with websockets' reader and act on each whole frame."""
        reader = self._reader
        reader.receive_data(data)
        for event in reader.events_received():
            if isinstance(event, WireFrame):
                self._frame(event)
        self._send_pending()

    # -- reading --------------------------------------------------------------

    def _frame(self, frame: WireFrame) -> None:
        # websockets' reader has checked the frame against RFC 6455 (masking,
        # reserved bits, opcodes, control frame sizes, continuations, close
        # codes and reasons) and queued the answer to a ping or a close; what
        # is left is what the console protocol adds.
        opcode = frame.opcode
        if opcode is Opcode.PONG:
            self._pong_due = False
            return
        if opcode is Opcode.PING or opcode is Opcode.CLOSE or self._closing:
            return
        if opcode is Opcode.BINARY:
            self.close(CLOSE_UNSUPPORTED_DATA, "binary frames are not accepted")
            return
        # Text frames carry nothing the server needs and are ignored, as the
        # original did; they must still be UTF-8 (checked as each fragment
        # arrives, so a bad one ends the message at once) and must not flood.
        decoder = self._text
        text: str | None = None
        try:
            if decoder is None and frame.fin:
                text = str(frame.data, "utf-8")
            else:
                if decoder is None:
                    decoder = self._text = utf8_decoder()
                decoder.decode(frame.data, frame.fin)
        except UnicodeDecodeError:
            self._fail(CLOSE_INVALID_DATA, "text frames must be UTF-8")
            return
        if not frame.fin:
            return
        self._text = None
        if self._budget is None:
            self._budget = FrameBudget(CLIENT_FRAME_BURST, CLIENT_FRAMES_PER_SECOND)
        if not self._budget.take():
            self.close(CLOSE_POLICY_VIOLATION, "too many frames")
            return
        # A protocol-2 console may say how it is (``status``) and what it did
        # with an alert (``ack``), each in one frame; what else it sends is
        # ignored, as before.
        if text is not None and self._control and self._device is not None:
            self._owner.hear(self._device, text)

    def _fail(self, code: int, reason: str) -> None:
        # Failing the connection (RFC 6455 7.1.7): the close frame goes out,
        # the reader discards what follows, and the connection ends once the
        # frame is written; frames already parsed are not acted on.
        self._closing = True
        self._text = None
        self._reader.fail(code, reason)

    def _send_pending(self) -> None:
        """Write what the reader queued (pongs, a close frame) and end the
        connection when it says so."""
        pending = self._reader.data_to_send()
        if not pending:
            return
        transport = self._transport
        assert transport is not None
        wire = b"".join(pending)
        if wire:
            transport.write(wire)
        if pending[-1] == SEND_EOF:
            # A close was received and answered, or the console broke the
            # protocol: nothing more is written. Half-closing (the server's
            # TCP close, RFC 6455 7.1.1) rather than closing keeps reading
            # what the console still had in flight, which the reader drops:
            # a socket closed with unread bytes answers with a reset, and a
            # reset can destroy the close frame before the console reads it.
            self._closing = True
            self._owner.release(self)
            if transport.can_write_eof():
                transport.write_eof()
                if self._timer is None:
                    self._timer = asyncio.get_running_loop().call_later(
                        CLOSE_TIMEOUT, transport.abort
                    )
            else:
                transport.close()


class LiveConsoles:
    """This process's live consoles: taking them over, keeping them alive, letting them go.

    Args:
        hub: where consoles are swapped in and left.
        heartbeat: seconds between pings of one console.
        heartbeat_timeout: seconds a ping may go unanswered before the
            connection is dropped.
        max_message: the largest frame or message a console may send.
    """

    def __init__(
        self,
        hub: ConsoleHub,
        *,
        heartbeat: float,
        heartbeat_timeout: float,
        max_message: int = MAX_CONSOLE_MESSAGE,
        presence: Presence | None = None,
        frames: FrameListener | None = None,
    ) -> None:
        self._hub = hub
        self._presence = presence
        # Where a protocol-2 console's text frames go (status, ack).
        self._frames = frames
        self._interval = heartbeat
        self._timeout = heartbeat_timeout
        self.max_message = max_message
        #: Called once per console closed for falling behind (metrics).
        self.on_cut_off: Callable[[], None] | None = None
        self._live: set[LiveConsole] = set()
        self._leaving: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._live)

    def adopt(
        self,
        hand_over: Callable[[LiveConsole], bool],
        replacing: Console,
        *,
        shop_id: int,
        control_frames: bool,
        max_buffer: int,
        replayed_up_to: int,
        connections: set[Any],
        device: Attendance | None = None,
    ) -> LiveConsole | None:
        """Make a live console and let ``hand_over`` move the connection onto it.

        ``replacing`` (the console the hub knew until now) is swapped for the
        live one with no await in between, so no frame falls between them.
        Returns None, with nothing changed, when the connection cannot be
        handed over (it is closing, or a frame from the console is half read).
        """
        live = LiveConsole(
            self,
            shop_id,
            control_frames=control_frames,
            max_buffer=max_buffer,
            replayed_up_to=replayed_up_to,
            connections=connections,
            device=device,
        )
        if not hand_over(live):
            return None
        self._live.add(live)
        if not self._hub.replace(replacing, live):
            # The hub had let the old console go (it was cut off meanwhile).
            live.close(CLOSE_TOO_SLOW, "too slow")
        return live

    def release(self, console: LiveConsole) -> None:
        """A live console is closing or closed: stop delivering to it (once)."""
        if console not in self._live:
            return
        self._live.discard(console)
        device = console._device
        if device is not None and self._presence is not None:
            self._presence.depart(device)
        if console.too_slow and self.on_cut_off is not None:
            self.on_cut_off()
        self._spawn(self._hub.leave(console))

    def hear(self, device: Attendance, text: str) -> None:
        """A protocol-2 console sent a whole text frame: routed by its ``type``
        (``web.console_frames``); without a router, presence reads its status."""
        if self._frames is not None:
            self._frames.hear(device, text)
        elif self._presence is not None:
            self._presence.hear(device, text)

    async def keep_alive(self) -> None:
        """Ping every live console each ``heartbeat`` seconds and drop the silent ones, forever.

        One round for all consoles, in slices, so a big process never stops
        its event loop for long and holds no timer per connection.
        """
        step = min(self._interval, self._timeout)
        # A hair of slack: rounds start a little late, never early.
        interval, timeout = self._interval - 0.001, self._timeout - 0.001
        while True:
            await asyncio.sleep(step)
            consoles = list(self._live)
            for start in range(0, len(consoles), KEEPALIVE_SLICE):
                now = time.monotonic()
                for console in consoles[start : start + KEEPALIVE_SLICE]:
                    console.keep_alive(now, interval, timeout)
                await asyncio.sleep(0)

    async def close(self) -> None:
        """Wait for the hub to be told of consoles that just left."""
        for task in list(self._leaving):
            with contextlib.suppress(Exception):
                await task

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._leaving.add(task)
        task.add_done_callback(self._leaving.discard)
