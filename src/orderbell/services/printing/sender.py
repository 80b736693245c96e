"""The sender of ESC/POS print jobs: a ticket written to the printer's TCP port.

Each attempt reads the printer and the order afresh (a printer added,
changed or removed while the servers run is seen at once), renders the
ticket with ``services.printing.escpos``, connects to ``host:port`` with
asyncio streams and writes it, all within a timeout, so a printer that does
not answer holds no more than its own job. Before writing, the printer is
asked for its paper status (DLE EOT 4, "transmit real-time status"): one
that answers "paper end" or "cover open" is not sent the ticket, which
waits for its next attempt; one that does not answer (many take bytes on
port 9100 and never reply) is sent it all the same.

The dispatcher gives this sender the jobs of a printer one at a time,
oldest first (``serial``), and retries a failed one within seconds, then
less often. What each attempt learnt of a printer (online, offline, out of
paper) is written on the printer's row when the attempt is settled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderbell.domain.errors import BusinessError, NotFound
from orderbell.services.dispatcher import Result
from orderbell.services.outbox import Outbox, Work
from orderbell.services.printing.escpos import render
from orderbell.services.printing.printers import (
    COVER_OPEN,
    ESCPOS_TCP,
    OFFLINE,
    ONLINE,
    PAPER_OUT,
    parse_address,
)
from orderbell.services.printing.tickets import ticket_of
from orderbell.storage import outgoing
from orderbell.storage.database import Database
from orderbell.storage.outgoing import Claimed, Settlement
from orderbell.storage.tables import Outgoing, Printer, utcnow

log = logging.getLogger(__name__)

_PRINTERS = cast(Table, Printer.__table__)

#: DLE EOT 4: "transmit paper roll sensor status".
PAPER_STATUS = b"\x10\x04\x04"
#: DLE EOT 2: "transmit off-line cause status" (the cover).
OFFLINE_CAUSE = b"\x10\x04\x02"

#: Seconds before the 2nd, 3rd, ... attempt at a print job: a printer that was
#: switched off or ran out of paper prints soon after it is back.
PRINT_DELAYS: tuple[float, ...] = (2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

_GONE = "printer removed"
_OFF = "printer disabled"


def paper_out(status: int) -> bool:
    """Whether a DLE EOT 4 answer says the paper has run out (bits 5 and 6)."""
    return status & 0x60 == 0x60


def cover_open(status: int) -> bool:
    """Whether a DLE EOT 2 answer says the cover is open (bit 2)."""
    return bool(status & 0x04)


@dataclass(frozen=True, slots=True)
class Heard:
    """What an attempt or a probe learnt of a printer."""

    status: str
    detail: str | None
    heard: bool


async def _ask(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, command: bytes, within: float
) -> int | None:
    writer.write(command)
    await writer.drain()
    try:
        async with asyncio.timeout(within):
            answer = await reader.read(1)
    except TimeoutError:
        return None
    return answer[0] if answer else None


class EscposSender:
    """Writes ``print`` rows to ESC/POS printers over TCP.

    Args:
        database: where printers and orders are read.
        zone: the zone of the times on the ticket.
        timeout: seconds an attempt may take in all (connect, ask, write).
        status_timeout: seconds to wait for a printer's answer to a status query.
    """

    kind = outgoing.PRINT

    def __init__(
        self,
        database: Database,
        *,
        zone: ZoneInfo,
        timeout: float = 5.0,
        status_timeout: float = 0.5,
    ) -> None:
        self._database = database
        self._zone = zone
        self._timeout = timeout
        self._status_timeout = status_timeout
        self._heard: dict[int, tuple[Heard, datetime]] = {}

    async def send(self, row: Claimed) -> Result:
        """Render the row's ticket and write it to its printer."""
        async with self._database.sessions() as session:
            printer = await session.get(Printer, row.target_id)
        if printer is None or printer.removed_at is not None or printer.kind != ESCPOS_TCP:
            return Result(False, error=_GONE, final=True)
        if not printer.enabled:
            return Result(False, error=_OFF, final=True)
        data = orjson.loads(row.payload)
        try:
            ticket = await ticket_of(
                self._database,
                printer.shop_id,
                int(data["orderId"]),
                width=printer.width,
                zone=self._zone,
                reprint=bool(data.get("reprint")),
            )
        except NotFound:
            return Result(False, error="order not found", final=True)
        payload = render(ticket)
        host, port = parse_address(printer.address or "")
        started = utcnow()
        try:
            async with asyncio.timeout(self._timeout):
                heard = await self._print(host, port, payload)
        except TimeoutError:
            heard = Heard(OFFLINE, f"no answer within {self._timeout:g} s", False)
        except OSError as exc:
            heard = Heard(OFFLINE, f"could not connect: {exc.strerror or exc}", False)
        self._heard[printer.id] = (heard, started)
        if heard.status == ONLINE:
            return Result(True)
        return Result(False, error=heard.detail or heard.status)

    async def _print(self, host: str, port: int, payload: bytes | None) -> Heard:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            paper = await _ask(reader, writer, PAPER_STATUS, self._status_timeout)
            if paper is not None and paper_out(paper):
                return Heard(PAPER_OUT, "paper out", True)
            if paper is not None:
                offline = await _ask(reader, writer, OFFLINE_CAUSE, self._status_timeout)
                if offline is not None and cover_open(offline):
                    return Heard(COVER_OPEN, "cover open", True)
            if payload is not None:
                writer.write(payload)
                await writer.drain()
            return Heard(ONLINE, None, True)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def probe(self, printer: Printer) -> Heard:
        """Ask an idle printer how it is (connect and the status queries; nothing printed)."""
        try:
            host, port = parse_address(printer.address or "")
            async with asyncio.timeout(self._timeout):
                heard = await self._print(host, port, None)
        except TimeoutError:
            heard = Heard(OFFLINE, f"no answer within {self._timeout:g} s", False)
        except (OSError, BusinessError) as exc:
            heard = Heard(OFFLINE, f"could not connect: {exc}", False)
        return heard

    async def settled(self, work: Work, settlements: Sequence[Settlement]) -> None:
        """Write on each printer what its attempts said of it."""
        for printer_id in {s.row.target_id for s in settlements}:
            seen = self._heard.pop(printer_id, None)
            if seen is not None:
                await write_heard(work.session, printer_id, seen[0], seen[1])

    async def close(self) -> None:
        """Nothing is held between attempts."""


async def write_heard(session: AsyncSession, printer_id: int, heard: Heard, at: datetime) -> None:
    """Record on a printer's row what it said (or that it did not answer)."""
    values: dict[str, object] = {"status": heard.status, "status_detail": heard.detail}
    if heard.heard:
        values["last_heard_at"] = at
    await session.execute(update(_PRINTERS).where(_PRINTERS.c.id == printer_id).values(**values))


class PrinterWatch:
    """Asks idle ESC/POS printers how they are every ``interval`` seconds, so that a
    printer shows online or offline (and counts as listening) between jobs."""

    def __init__(self, outbox: Outbox, sender: EscposSender, *, interval: float) -> None:
        from orderbell.services.chores import Chores

        self._outbox = outbox
        self._sender = sender
        self._interval = interval
        self._chores = Chores("printer watch")

    def start(self) -> None:
        """Look every ``interval`` seconds until ``stop`` (nothing when it is 0)."""
        if self._interval > 0:
            self._chores.every(self._interval, self.look, spread=True)

    async def stop(self) -> None:
        """Stop looking."""
        await self._chores.stop()

    async def look(self) -> int:
        """Probe every enabled ESC/POS printer with no job waiting; returns how many."""
        database = self._outbox.database
        async with database.sessions() as session:
            busy = select(Outgoing.target_id).where(
                Outgoing.kind == outgoing.PRINT,
                Outgoing.state == outgoing.QUEUED,
            )
            idle = list(
                await session.scalars(
                    select(Printer).where(
                        Printer.kind == ESCPOS_TCP,
                        Printer.enabled.is_(True),
                        Printer.removed_at.is_(None),
                        Printer.id.not_in(busy),
                    )
                )
            )
        if not idle:
            return 0
        at = utcnow()
        heard = await asyncio.gather(*(self._sender.probe(p) for p in idle))
        async with database.transaction() as session:
            for printer, said in zip(idle, heard, strict=True):
                await write_heard(session, printer.id, said, at)
        return len(idle)
