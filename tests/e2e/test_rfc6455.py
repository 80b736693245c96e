"""What a console sends, held to RFC 6455 on a real server, on both console paths.

Each case is a row of one table, in the manner of the Autobahn test suite:
frames crafted and masked by hand on a bare socket, after a real handshake
and login, and the exact close code the server answers with (or the pongs
it sends when the frames are valid). Every row runs twice:

- ``live``: orderbell's own server; once ``synced`` arrived, the console's
  connection has been handed to a ``LiveConsole`` and its reader;
- ``asgi``: the same app under a plain uvicorn, where no console is handed
  off and the ASGI endpoint (uvicorn's WebSocket protocol) reads everything.

Whatever a console sends, the server's own close frames carry only codes
RFC 6455 lets go on the wire (never 1005, 1006 or 1015) and a UTF-8 reason.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest

from orderbell.protocol import MAX_CONSOLE_MESSAGE
from tests.e2e.server import PASSWORD, Server, new_shop, running_server
from tests.unit.client_frames import masked

pytestmark = pytest.mark.e2e

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
#: Seconds to wait for one frame from the server (the machine is shared).
WITHIN = 10.0


def close(payload: bytes, *, fin: bool = True) -> bytes:
    return masked(CLOSE, payload, fin=fin)


def code(value: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", value) + reason


def text(payload: bytes, *, fin: bool = True) -> bytes:
    return masked(TEXT, payload, fin=fin)


def cont(payload: bytes, *, fin: bool = True) -> bytes:
    return masked(CONT, payload, fin=fin)


def header_only(frame: bytes) -> bytes:
    """The header (with its mask) of a masked client frame, without the payload."""
    length = frame[1] & 0x7F
    return frame[: 2 + {126: 2, 127: 8}.get(length, 0) + 4]


def rsv(frame: bytes, bits: int) -> bytes:
    """``frame`` with reserved bits set (0x40 RSV1, 0x20 RSV2, 0x10 RSV3)."""
    return bytes((frame[0] | bits,)) + frame[1:]


def wire_code_allowed(value: int) -> bool:
    """May a close frame carry ``value`` (RFC 6455 7.4 and the IANA registry)?"""
    return value in (1000, 1001, 1002, 1003, *range(1007, 1015)) or 3000 <= value < 5000


# -- the table ----------------------------------------------------------------


@dataclass(frozen=True)
class Closed:
    """The server answers with a close frame carrying ``code`` (None: an empty one);
    ``echo``: it answers the console's own close."""

    code: int | None
    echo: bool = False


@dataclass(frozen=True)
class Accepted:
    """The server takes the frames, answers pings with ``pongs`` and keeps the console."""

    pongs: tuple[bytes, ...] = ()


#: Codes RFC 6455 forbids in a close frame: not defined, or only for reporting.
FORBIDDEN_CLOSE_CODES = [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]

EURO = "€".encode()
#: "κόσμε" and then a UTF-16 surrogate (U+D800), which UTF-8 may not encode.
BAD_UTF8 = "κόσμε".encode() + b"\xed\xa0\x80"

CASES = [
    # Close frames (RFC 6455 5.5, 5.5.1, 7.4).
    pytest.param(close(b"\x03"), Closed(1002), id="close payload of 1 byte"),
    *(
        pytest.param(close(code(c)), Closed(1002), id=f"close code {c}")
        for c in FORBIDDEN_CLOSE_CODES
    ),
    pytest.param(close(code(1000, b"\xff\xfe")), Closed(1007), id="close reason not UTF-8"),
    pytest.param(close(code(1000), fin=False), Closed(1002), id="fragmented close"),
    pytest.param(close(code(1000, b"x" * 124)), Closed(1002), id="close payload of 126 bytes"),
    pytest.param(close(code(1000, b"bye")), Closed(1000, echo=True), id="close 1000 is echoed"),
    pytest.param(close(code(1001)), Closed(1001, echo=True), id="close 1001 is echoed"),
    pytest.param(close(code(3000)), Closed(3000, echo=True), id="close 3000 is echoed"),
    pytest.param(
        close(code(4999, "再见".encode())), Closed(4999, echo=True), id="close 4999 is echoed"
    ),
    pytest.param(
        close(code(1000, b"x" * 123)), Closed(1000, echo=True), id="close payload of 125 bytes"
    ),
    pytest.param(close(b""), Closed(None, echo=True), id="empty close is answered empty"),
    # Pings and pongs (5.5.2, 5.5.3).
    pytest.param(masked(PONG, b"", fin=False), Closed(1002), id="fragmented pong"),
    pytest.param(masked(PONG, b"x" * 126), Closed(1002), id="pong of 126 bytes"),
    pytest.param(masked(PING, b"", fin=False), Closed(1002), id="fragmented ping"),
    pytest.param(masked(PING, b"x" * 126), Closed(1002), id="ping of 126 bytes"),
    pytest.param(masked(PING, b"are you there?"), Accepted((b"are you there?",)), id="ping"),
    pytest.param(masked(PING, b""), Accepted((b"",)), id="empty ping"),
    pytest.param(masked(PING, b"p" * 125), Accepted((b"p" * 125,)), id="ping of 125 bytes"),
    pytest.param(masked(PONG, b"unasked"), Accepted(), id="unsolicited pong"),
    # Reserved bits (5.2): no extension was agreed.
    pytest.param(rsv(text(b"hi"), 0x40), Closed(1002), id="RSV1 on text"),
    pytest.param(rsv(text(b"hi"), 0x20), Closed(1002), id="RSV2 on text"),
    pytest.param(rsv(text(b"hi"), 0x10), Closed(1002), id="RSV3 on text"),
    pytest.param(rsv(masked(PING, b"hi"), 0x70), Closed(1002), id="RSV1-3 on ping"),
    # Opcodes (5.2).
    *(
        pytest.param(masked(op, b"x"), Closed(1002), id=f"opcode {op:#x}")
        for op in (*range(0x3, 0x8), *range(0xB, 0x10))
    ),
    # Fragmentation (5.4).
    pytest.param(cont(b"x"), Closed(1002), id="continuation without a start"),
    pytest.param(cont(b"x", fin=False), Closed(1002), id="unfinished continuation, no start"),
    pytest.param(
        text(b"a", fin=False) + text(b"b"), Closed(1002), id="text inside a fragmented text"
    ),
    pytest.param(
        text(b"a", fin=False) + masked(BINARY, b"b"),
        Closed(1002),
        id="binary inside a fragmented text",
    ),
    pytest.param(
        text(b"kee", fin=False) + cont(b"p ", fin=False) + cont(b"alive"),
        Accepted(),
        id="fragmented text",
    ),
    pytest.param(
        text(b"a", fin=False) + masked(PING, b"mid") + cont(b"b"),
        Accepted((b"mid",)),
        id="ping between fragments",
    ),
    pytest.param(text(b""), Accepted(), id="empty text"),
    # UTF-8 (8.1).
    pytest.param(text(BAD_UTF8), Closed(1007), id="text not UTF-8"),
    pytest.param(
        text(BAD_UTF8[:4], fin=False) + cont(BAD_UTF8[4:]),
        Closed(1007),
        id="text not UTF-8 across fragments",
    ),
    pytest.param(text(b"ab" + EURO[:2]), Closed(1007), id="text ends inside a character"),
    pytest.param(
        text(b"price " + EURO[:1], fin=False) + cont(EURO[1:2], fin=False) + cont(EURO[2:]),
        Accepted(),
        id="a character split across fragments",
    ),
    # What the console protocol adds: no binary data, a bound on size.
    pytest.param(masked(BINARY, b"\x00\x01"), Closed(1003), id="binary"),
    # A frame is refused on its header's length: only the header is sent, so
    # no payload is left unread when the server closes (a socket closed with
    # unread data sends a reset, which can overtake the close frame).
    pytest.param(
        header_only(text(b"x" * (MAX_CONSOLE_MESSAGE + 1))),
        Closed(1009),
        id="text frame over the limit",
    ),
    pytest.param(
        text(b"x" * (MAX_CONSOLE_MESSAGE // 2), fin=False)
        + header_only(cont(b"x" * (MAX_CONSOLE_MESSAGE // 2 + 1))),
        Closed(1009),
        id="fragmented text over the limit",
    ),
]


# -- a console on a bare socket ---------------------------------------------------


@dataclass
class ServerFrame:
    opcode: int
    fin: bool
    payload: bytes


@dataclass
class RawConsole:
    """A console that speaks WebSocket by hand, so it can send what no library would."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    #: Every close frame the server sent, as (code or None, reason bytes).
    closes: list[tuple[int | None, bytes]] = field(default_factory=list)

    @classmethod
    async def open(cls, server: Server, token: str) -> RawConsole:
        """Handshake, log in (``?token=``) and read up to ``synced``."""
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET /ws/console?token={token}&protocol=2 HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WITHIN)
        assert head.startswith(b"HTTP/1.1 101 "), head
        console = cls(reader, writer)
        seen = []
        while "synced" not in seen:
            frame = await console.frame()
            assert frame is not None and frame.opcode == TEXT, frame
            seen.append(orjson.loads(frame.payload)["type"])
        assert seen == ["hello", "synced"]
        return console

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        # The server may end the connection while the rest is still going out.
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()

    async def frame(self) -> ServerFrame | None:
        """The server's next frame; None once it closed the connection."""
        try:
            head = await asyncio.wait_for(self.reader.readexactly(2), WITHIN)
            assert not head[1] & 0x80, "a server never masks its frames"
            size = head[1] & 0x7F
            if size == 126:
                (size,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif size == 127:
                (size,) = struct.unpack("!Q", await self.reader.readexactly(8))
            payload = await asyncio.wait_for(self.reader.readexactly(size), WITHIN)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        assert not head[0] & 0x70, "no reserved bit without an extension"
        frame = ServerFrame(head[0] & 0x0F, bool(head[0] & 0x80), payload)
        if frame.opcode == CLOSE:
            self._check_close(frame)
        return frame

    def _check_close(self, frame: ServerFrame) -> None:
        payload = frame.payload
        assert frame.fin and len(payload) <= 125 and len(payload) != 1, payload
        value = struct.unpack("!H", payload[:2])[0] if payload else None
        assert value is None or wire_code_allowed(value), f"the server sent close code {value}"
        payload[2:].decode()  # the reason is UTF-8
        self.closes.append((value, payload[2:]))

    async def next_close(self) -> ServerFrame | None:
        """Read up to the server's close frame (pongs and pings are skipped)."""
        while True:
            frame = await self.frame()
            if frame is None or frame.opcode == CLOSE:
                return frame

    async def ended(self, *, reply: bool) -> bool:
        """Wait for the server to close the connection (after answering its close,
        with ``reply``, as a console does): True when it did."""
        if reply:
            value = self.closes[-1][0]
            await self.send(close(b"" if value is None else code(value)))
        try:
            # Whatever still comes is checked as it is read.
            while await self.frame() is not None:
                pass
        except TimeoutError:
            return False
        return True

    def abort(self) -> None:
        self.writer.transport.abort()


# -- the two paths ----------------------------------------------------------------


def plain_uvicorn() -> list[str]:
    """The app under uvicorn's own WebSocket protocol: no console is handed off."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "orderbell.bootstrap:app_from_environment",
        "--port",
        "{port}",
        "--ws",
        "websockets-sansio",
        # The limit orderbell's own server sets (serving.uvicorn_config).
        "--ws-max-size",
        str(MAX_CONSOLE_MESSAGE),
        "--log-level",
        "warning",
    ]


@dataclass
class ConsolePath:
    """A server and a merchant login of a shop of its own."""

    name: str
    server: Server
    token: str


def logged_in(name: str, server: Server) -> ConsolePath:
    kit = asyncio.run(new_shop(server.database_url))
    response = httpx.post(
        f"{server.base_url}/admin/employee/login",
        json={"username": kit.username, "password": PASSWORD},
        timeout=30,
    )
    return ConsolePath(name, server, response.json()["data"]["token"])


@pytest.fixture(scope="module")
def live_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsolePath]:
    with running_server(Path(tmp_path_factory.mktemp("live"))) as srv:
        yield logged_in("live", srv)


@pytest.fixture(scope="module")
def asgi_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsolePath]:
    with running_server(Path(tmp_path_factory.mktemp("asgi")), command=plain_uvicorn()) as srv:
        yield logged_in("asgi", srv)


@pytest.fixture(params=["live", "asgi"])
def path(request: pytest.FixtureRequest) -> ConsolePath:
    fixture: ConsolePath = request.getfixturevalue(f"{request.param}_path")
    return fixture


# -- the tests --------------------------------------------------------------------


async def live_consoles(server: Server) -> float:
    async with httpx.AsyncClient(base_url=server.base_url) as http:
        metrics = (await http.get("/metrics")).text
    [line] = [x for x in metrics.splitlines() if x.startswith("orderbell_consoles_live ")]
    return float(line.split()[1])


async def test_each_path_is_the_one_it_says(path: ConsolePath) -> None:
    """The ``live`` rows run on a handed-off console, the ``asgi`` rows on the endpoint."""
    console = await RawConsole.open(path.server, path.token)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WITHIN
        want = 1.0 if path.name == "live" else 0.0
        # Consoles of earlier tests may still be on their way out.
        while (count := await live_consoles(path.server)) != want and loop.time() < deadline:
            await asyncio.sleep(0.05)
        assert count == want
    finally:
        console.abort()


@pytest.mark.parametrize(("frames", "outcome"), CASES)
async def test_a_console_frame(
    path: ConsolePath, frames: bytes, outcome: Closed | Accepted
) -> None:
    console = await RawConsole.open(path.server, path.token)
    try:
        await console.send(frames)
        if isinstance(outcome, Closed):
            answer = await console.next_close()
            assert answer is not None, "the server ended the connection without a close frame"
            assert console.closes[0][0] == outcome.code
            ended = await console.ended(reply=not outcome.echo)
            assert ended, "the server kept the connection after the close"
            assert len(console.closes) == 1, console.closes
            return
        # Valid frames: the pongs come in order, then the answer to a marker
        # ping shows everything before it was read and nothing was refused.
        await console.send(masked(PING, b"marker"))
        pongs = []
        while True:
            frame = await console.frame()
            assert frame is not None, "the server ended the connection"
            assert frame.opcode != CLOSE, f"refused with {console.closes[-1]}"
            if frame.opcode == PONG:
                if frame.payload == b"marker":
                    break
                pongs.append(frame.payload)
        assert tuple(pongs) == outcome.pongs
        await console.send(close(code(1000)))
        assert await console.next_close() is not None
        assert console.closes == [(1000, b"")]
        assert await console.ended(reply=False)
    finally:
        console.abort()
