"""The live console's frame reader, keepalive and write path, on a recording transport."""

from __future__ import annotations

import asyncio
import struct
import time
from typing import Any

import pytest

from orderbell.delivery.frames import Frame
from orderbell.protocol import OP_CLOSE, server_frame
from orderbell.web import live_console
from orderbell.web.live_console import PING, LiveConsole, LiveConsoles
from tests.support.transports import RecordingTransport as Transport
from tests.unit.client_frames import masked


def close_frame(code: int, reason: str = "") -> bytes:
    """The close frame a server sends with ``code`` and ``reason``."""
    return server_frame(struct.pack("!H", code) + reason.encode(), OP_CLOSE)


class RecordedConsole:
    """The console the hub knew before the hand-off."""

    shop_id = 7

    def offer(self, frame: Frame) -> bool:
        return True


class Hub:
    def __init__(self) -> None:
        self.left: list[Any] = []

    def replace(self, old: Any, new: Any) -> bool:
        return True

    async def leave(self, console: Any) -> None:
        self.left.append(console)


def console(**options: Any) -> tuple[LiveConsole, Transport, set[Any]]:
    settings = {"control_frames": False, "max_buffer": 1000, "replayed_up_to": 0} | options
    connections: set[Any] = set()
    live = LiveConsole(
        LiveConsoles(Hub(), heartbeat=1.0, heartbeat_timeout=2.0),
        7,
        connections=connections,
        **settings,
    )
    transport = Transport()
    live.connection_made(transport)  # type: ignore[arg-type]
    return live, transport, connections


def alert(seq: int) -> Frame:
    return Frame.of(b'{"type":1,"orderId":1,"seq":%d}' % seq, seq)


def close_code(wire: bytes) -> int:
    """The code of a server's close frame (short, unmasked)."""
    assert wire[0] == 0x88 and 2 <= wire[1] <= 125, wire
    return int(struct.unpack("!H", wire[2:4])[0])


def close(payload: bytes, *, fin: bool = True) -> bytes:
    return masked(0x8, payload, fin=fin)


@pytest.fixture(autouse=True)
def event_loop_for_timers() -> Any:
    # close() arms its timeout on the running loop.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()


def run(loop: asyncio.AbstractEventLoop, work: Any) -> Any:
    async def inside() -> Any:
        return work()

    return loop.run_until_complete(inside())


def feed(loop: asyncio.AbstractEventLoop, live: LiveConsole, data: bytes) -> None:
    """What the console sent, as the event loop hands it over."""
    run(loop, lambda: live.data_received(data))


def test_alerts_are_written_as_framed_once(event_loop_for_timers: Any) -> None:
    live, transport, connections = console()
    assert live in connections
    frame = alert(1)
    assert live.offer(frame)
    assert transport.written == [frame.wire]


def test_plain_consoles_skip_control_frames_and_replayed_alerts(event_loop_for_timers: Any) -> None:
    live, transport, _ = console(replayed_up_to=5)
    assert live.offer(Frame.of(b'{"type":"ping"}'))
    assert live.offer(alert(5))
    assert transport.written == []
    assert live.offer(alert(6))
    assert len(transport.written) == 1


def test_protocol_2_consoles_get_control_frames(event_loop_for_timers: Any) -> None:
    live, transport, _ = console(control_frames=True)
    assert live.offer(Frame.of(b'{"type":"ping"}'))
    assert len(transport.written) == 1


def test_a_console_over_its_bound_is_cut_off_with_4408(event_loop_for_timers: Any) -> None:
    live, transport, _ = console(max_buffer=100)
    transport.buffered = 90
    assert not run(event_loop_for_timers, lambda: live.offer(alert(1)))
    assert live.too_slow
    assert transport.written == [close_frame(4408, "too slow")]
    assert not live.offer(alert(2)), "nothing more after the close frame"


def test_a_ping_gets_its_pong(event_loop_for_timers: Any) -> None:
    live, transport, _ = console()
    feed(event_loop_for_timers, live, masked(0x9, b"abc"))
    assert transport.written == [b"\x8a\x03abc"]


def test_frames_may_arrive_a_byte_at_a_time(event_loop_for_timers: Any) -> None:
    live, transport, _ = console()
    data = masked(0x9, b"one") + masked(0x1, b"x" * 300) + masked(0x9, b"two")
    for i in range(len(data)):
        live.data_received(data[i : i + 1])
    assert transport.written == [b"\x8a\x03one", b"\x8a\x03two"]
    assert not transport.ended


def test_keepalive_pings_and_drops_a_silent_console(event_loop_for_timers: Any) -> None:
    live, transport, _ = console()
    t = time.monotonic() + 1.0  # a second after the console went live
    live.keep_alive(t, 1.0, 2.0)
    assert transport.written == [PING]
    live.keep_alive(t + 1, 1.0, 2.0)
    assert transport.written == [PING], "one ping in flight at a time"
    feed(event_loop_for_timers, live, masked(0xA, b""))
    live.keep_alive(t + 2, 1.0, 2.0)
    assert transport.written == [PING, PING]
    live.keep_alive(t + 3.5, 1.0, 2.0)
    assert not transport.aborted
    run(event_loop_for_timers, lambda: live.keep_alive(t + 4, 1.0, 2.0))
    assert transport.aborted
    assert transport.written[-1] == close_frame(1011, "keepalive ping timeout")


def test_a_close_is_answered_and_the_connection_ends(event_loop_for_timers: Any) -> None:
    live, transport, _ = console()
    feed(event_loop_for_timers, live, masked(0x8, struct.pack("!H", 1000) + b"bye"))
    [answer] = transport.written
    assert close_code(answer) == 1000
    assert transport.ended
    assert not live.offer(alert(1))


def test_an_empty_close_is_answered_empty(event_loop_for_timers: Any) -> None:
    live, transport, _ = console()
    feed(event_loop_for_timers, live, masked(0x8, b""))
    # Not 1005: that code says "no code was sent" and never goes on the wire.
    assert transport.written == [b"\x88\x00"]
    assert transport.ended


#: Close codes RFC 6455 (7.4) and its registry forbid in a close frame.
FORBIDDEN_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        pytest.param(close(b"\x03"), 1002, id="close payload of one byte"),
        *(
            pytest.param(close(struct.pack("!H", c)), 1002, id=f"close code {c}")
            for c in FORBIDDEN_CLOSE_CODES
        ),
        pytest.param(close(b"\x03\xe8\xff\xfe"), 1007, id="close reason not UTF-8"),
        pytest.param(close(b"\x03\xe8", fin=False), 1002, id="fragmented close"),
        pytest.param(close(b"\x03\xe8" + b"x" * 124), 1002, id="close payload of 126 bytes"),
        pytest.param(masked(0xA, b"", fin=False), 1002, id="fragmented pong"),
        pytest.param(masked(0xA, b"x" * 126), 1002, id="pong of 126 bytes"),
    ],
)
def test_a_bad_close_or_pong_fails_the_connection(
    event_loop_for_timers: Any, data: bytes, code: int
) -> None:
    live, transport, _ = console()
    feed(event_loop_for_timers, live, data)
    [answer] = transport.written
    assert close_code(answer) == code
    assert transport.ended
    assert not live.offer(alert(1))


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1011, 1012, 1013, 1014, 3000, 4999])
def test_a_valid_close_code_is_echoed(event_loop_for_timers: Any, code: int) -> None:
    live, transport, _ = console()
    feed(event_loop_for_timers, live, close(struct.pack("!H", code) + "再见".encode()))
    [answer] = transport.written
    assert close_code(answer) == code
    assert transport.ended


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (masked(0x2, b"\x00\x01"), 1003),
        (b"\x81\x02hi", 1002),  # not masked
        (masked(0x1 | 0x40, b"hi"), 1002),  # a reserved bit
        (masked(0x0, b"hi"), 1002),  # a continuation of nothing
        (masked(0x3, b""), 1002),  # an unknown opcode
        (masked(0x1, b"\xff\xfe"), 1007),
        (masked(0x1, b"x" * (64 * 1024 + 1)), 1009),
        (masked(0x9, b"x", fin=False), 1002),
    ],
)
def test_bad_frames_close_with_the_matching_code(
    event_loop_for_timers: Any, data: bytes, code: int
) -> None:
    live, transport, _ = console()
    feed(event_loop_for_timers, live, data)
    assert transport.written[0][:4] == bytes((0x88, transport.written[0][1])) + struct.pack(
        "!H", code
    )
    assert not live.offer(alert(1))


def test_after_a_refused_frame_reading_stays_in_step(event_loop_for_timers: Any) -> None:
    live, transport, _ = console()
    feed(event_loop_for_timers, live, masked(0x2, b"binary"))
    assert transport.written == [close_frame(1003, "binary frames are not accepted")]
    assert not transport.ended, "waiting for the console's close"
    feed(
        event_loop_for_timers,
        live,
        masked(0x1, b"x" * 200) + masked(0x9, b"ping") + close(b"\x03\xeb"),
    )
    # The close reply is not answered again; the pong may still go out (RFC 6455 5.5).
    assert transport.written[1:] in ([], [b"\x8a\x04ping"])
    assert transport.ended, "the console's close reply ends the connection"


def test_an_unreadable_frame_ends_the_connection_at_once(event_loop_for_timers: Any) -> None:
    live, transport, _ = console()
    feed(event_loop_for_timers, live, b"\x81\x05hello")
    [answer] = transport.written
    assert close_code(answer) == 1002
    assert transport.ended


def test_bad_utf_8_in_a_first_fragment_fails_at_once(event_loop_for_timers: Any) -> None:
    live, transport, _ = console()
    bad = masked(0x1, "κόσμε".encode() + b"\xed\xa0\x80", fin=False)
    feed(event_loop_for_timers, live, bad)
    [answer] = transport.written
    assert close_code(answer) == 1007
    assert transport.ended


def test_utf_8_split_inside_a_character_is_one_message(event_loop_for_timers: Any) -> None:
    live, transport, _ = console()
    euro = "€".encode()
    feed(
        event_loop_for_timers,
        live,
        masked(0x1, b"price " + euro[:1], fin=False)
        + masked(0x0, euro[1:2], fin=False)
        + masked(0x0, euro[2:]),
    )
    assert transport.written == []
    feed(event_loop_for_timers, live, masked(0x1, euro[:2]))
    assert close_code(transport.written[0]) == 1007, "a message may not end inside one"


def adopted(consoles: LiveConsoles, connections: set[Any]) -> LiveConsole:
    """A live console taken over by ``consoles`` on a recording transport."""

    def hand_over(live: LiveConsole) -> bool:
        live.connection_made(Transport())  # type: ignore[arg-type]
        return True

    live = consoles.adopt(
        hand_over,
        RecordedConsole(),
        shop_id=7,
        control_frames=False,
        max_buffer=1000,
        replayed_up_to=0,
        connections=connections,
    )
    assert live is not None
    return live


def test_a_closing_console_leaves_the_hub_at_once(event_loop_for_timers: Any) -> None:
    hub = Hub()
    consoles = LiveConsoles(hub, heartbeat=1.0, heartbeat_timeout=2.0)

    async def scenario() -> None:
        live = adopted(consoles, set())
        live.data_received(masked(0x2, b"no"))
        await consoles.close()
        assert hub.left == [live], "left before the console answered the close"
        live.connection_lost(None)
        await consoles.close()
        assert hub.left == [live], "and only once"

    event_loop_for_timers.run_until_complete(scenario())


def test_fragmented_text_is_one_message(event_loop_for_timers: Any) -> None:
    live, transport, _ = console()
    feed(
        event_loop_for_timers,
        live,
        masked(0x1, b"he", fin=False) + masked(0x9, b"?") + masked(0x0, b"llo"),
    )
    assert transport.written == [b"\x8a\x01?"], "a ping between fragments is answered"
    assert live.offer(alert(1))


def test_the_servers_close_is_not_sent_twice(event_loop_for_timers: Any) -> None:
    live, transport, _ = console(max_buffer=100)
    transport.buffered = 100
    run(event_loop_for_timers, lambda: live.offer(alert(1)))
    assert transport.written == [close_frame(4408, "too slow")]
    feed(event_loop_for_timers, live, close(struct.pack("!H", 4408)))
    assert transport.written == [close_frame(4408, "too slow")], "the reply is not answered"
    assert transport.ended


def test_a_flood_of_text_frames_is_cut_off(event_loop_for_timers: Any) -> None:
    live, transport, _ = console()
    feed(event_loop_for_timers, live, masked(0x1, b"hi") * 61)
    assert transport.written == [close_frame(1008, "too many frames")]


def test_a_lost_connection_leaves_the_hub(event_loop_for_timers: Any) -> None:
    hub = Hub()
    consoles = LiveConsoles(hub, heartbeat=1.0, heartbeat_timeout=2.0)
    connections: set[Any] = set()

    async def scenario() -> None:
        live = adopted(consoles, connections)
        assert len(consoles) == 1 and live in connections
        live.connection_lost(None)
        await consoles.close()
        assert hub.left == [live]
        assert len(consoles) == 0 and not connections

    event_loop_for_timers.run_until_complete(scenario())


def test_a_console_that_never_closes_its_side_is_dropped(
    event_loop_for_timers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_console, "CLOSE_TIMEOUT", 0.01)
    live, transport, _ = console()

    async def scenario() -> None:
        live.data_received(close(struct.pack("!H", 1000)))
        # Half-closed: what the console still sends is read (and dropped).
        assert transport.eof and not transport.closed and not transport.aborted
        while not transport.aborted:
            await asyncio.sleep(0.005)

    event_loop_for_timers.run_until_complete(asyncio.wait_for(scenario(), 5))


def test_a_long_close_reason_is_cut_to_fit_a_control_frame(event_loop_for_timers: Any) -> None:
    live, transport, _ = console()
    run(event_loop_for_timers, lambda: live.close(4400, "订单" * 30))
    [frame] = transport.written
    assert frame[1] == 125, "the most a control frame carries"
    assert frame[4:].decode() == "订单" * 20 + "订"
