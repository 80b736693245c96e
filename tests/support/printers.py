"""A receipt printer stand-in: a TCP server on 127.0.0.1 that records what it is sent.

It answers the ESC/POS real-time status queries (DLE EOT n) as a printer
with paper and a closed cover does, or with "paper end" when told, and
keeps each connection's bytes with the queries taken out: one ticket per
connection that sent one.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from escpos.constants import PAPER_FULL_CUT

STATUS_QUERY = b"\x10\x04"
#: DLE EOT answers: fixed bits 0x12; paper end adds 0x60 (n = 4), cover open 0x04 (n = 2).
READY, PAPER_END = 0x12, 0x12 | 0x60
CUT = PAPER_FULL_CUT


@dataclass
class StandInPrinter:
    """An ESC/POS printer on ``port``; ``tickets`` holds what each connection printed."""

    port: int = 0
    answers: bool = True
    paper: bool = True
    tickets: list[bytes] = field(default_factory=list)
    connections: int = 0
    _server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self) -> StandInPrinter:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        data = b""
        try:
            for _ in range(10_000):
                chunk = await reader.read(65536)
                if not chunk:
                    break
                data += chunk
                while self.answers and data.startswith(STATUS_QUERY) and len(data) >= 3:
                    n = data[2]
                    data = data[3:]
                    if n == 4:
                        writer.write(bytes([READY if self.paper else PAPER_END]))
                    else:
                        writer.write(bytes([READY]))
                    await writer.drain()
        finally:
            if data:
                self.tickets.append(data)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
