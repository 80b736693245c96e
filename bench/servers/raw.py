"""The floor: asyncio transports, one pre-built frame written to every connection.

No WebSocket library: the handshake is answered by hand, the frame is framed
once per alert and ``transport.write`` hands the same bytes to each socket.
Nothing is awaited per console. This is what the event loop and the
kernel's per-socket send cost at the least.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import socket
import struct
from typing import cast

from bench.servers.common import alert_frame, options, order_id_of, run

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC11B65"
PING = b"\x89\x00"
consoles: set[asyncio.Transport] = set()


def ws_frame(payload: bytes, opcode: int = 1) -> bytes:
    n = len(payload)
    if n < 126:
        return bytes((0x80 | opcode, n)) + payload
    if n < 65536:
        return bytes((0x80 | opcode, 126)) + struct.pack("!H", n) + payload
    return bytes((0x80 | opcode, 127)) + struct.pack("!Q", n) + payload


def fan_out(order_id: int) -> None:
    frame = ws_frame(alert_frame(order_id))
    for transport in consoles:
        transport.write(frame)


class Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.console = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            consoles.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.console:
            self._client_frames()
            return
        while not self.console and b"\r\n\r\n" in self.buffer:
            head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self._request(head)
        if self.console and self.buffer:
            self._client_frames()

    def _request(self, head: bytes) -> None:
        assert self.transport is not None
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        target = parts[1] if len(parts) > 1 else "/"
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if target.startswith("/ws/") and "sec-websocket-key" in headers:
            key = headers["sec-websocket-key"].encode()
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            # No Sec-WebSocket-Extensions: permessage-deflate is refused.
            self.transport.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            self.console = True
            consoles.add(self.transport)
            return
        if target.startswith("/trigger"):
            fan_out(order_id_of(target))
        status = b"200 OK" if target.startswith(("/trigger", "/healthz")) else b"404 Not Found"
        self.transport.write(
            b"HTTP/1.1 " + status + b"\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nok\n"
        )

    def _client_frames(self) -> None:
        # Consoles send pongs and a close at most; frames from clients are masked.
        assert self.transport is not None
        buf = self.buffer
        while len(buf) >= 2:
            opcode = buf[0] & 0x0F
            length = buf[1] & 0x7F
            offset = 2
            if length == 126:
                if len(buf) < 4:
                    break
                length = struct.unpack("!H", buf[2:4])[0]
                offset = 4
            elif length == 127:
                if len(buf) < 10:
                    break
                length = struct.unpack("!Q", buf[2:10])[0]
                offset = 10
            offset += 4 if buf[1] & 0x80 else 0
            if len(buf) < offset + length:
                break
            buf = buf[offset + length :]
            if opcode == 8:
                self.transport.write(ws_frame(b"\x03\xe8", 8))
                self.transport.close()
                break
        self.buffer = buf


async def heartbeat(interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        for transport in consoles:
            transport.write(PING)


async def main(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    if args.sndbuf:
        # As orderbell does (accepted sockets inherit it), to compare like with like.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, args.sndbuf)
        sock.bind((args.host, args.port))
        sock.listen(args.backlog)
        server = await loop.create_server(Connection, sock=sock, backlog=args.backlog)
    else:
        server = await loop.create_server(Connection, args.host, args.port, backlog=args.backlog)
    beat = loop.create_task(heartbeat(args.heartbeat)) if args.heartbeat else None
    async with server:
        await server.serve_forever()
    if beat is not None:
        beat.cancel()


if __name__ == "__main__":
    arguments = options(__doc__ or "")
    run(main(arguments), arguments.loop)
