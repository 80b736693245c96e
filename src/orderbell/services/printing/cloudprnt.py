"""Star CloudPRNT: printers that poll the server for their print jobs.

The protocol, as Star publishes it (CloudPRNT Version HTTP), over one URL
(``/cloudprnt`` here), each request authenticated with the printer's login
and secret (HTTP Basic):

- ``POST`` every few seconds with the printer's status as JSON
  (``statusCode`` such as ``"200 OK"``, ``"410 Out of paper"``,
  ``"420 Cover open"``; ``printerMAC``). The answer says whether a job is
  ready (``jobReady``), in which media types (``mediaTypes``), and names it
  (``jobToken``).
- ``GET ?type=<media type>&mac=...&token=...`` fetches the job. It changes
  nothing the printer could notice (a repeated GET gets the same job); the
  job is marked ``sent`` (printing, as Star says a server may assume).
- ``DELETE ?code=<status>&mac=...&token=...`` confirms it: a code starting
  with 2 (or ``OK``) means printed; another code means the printer could not
  print that job's data, which is then failed. A printer that goes wrong in
  the middle (paper out) instead POSTs the error status: the job goes back to
  ``queued`` and is offered again when the printer says it is fine.

Jobs are the ``cloudprnt`` rows of table ``outgoing``, a printer's oldest
unfinished one first, so the jobs of a printer that was away print in
order. The ticket is served as ``text/plain`` (UTF-8), which every
CloudPRNT printer takes and prints in its own font, followed by a cut;
whether Chinese prints depends on the printer's fonts (docs/printing.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Table, insert, select, update

from orderbell.domain.errors import NotFound
from orderbell.domain.tickets import preview
from orderbell.services.printing.printers import COVER_OPEN, ERROR, ONLINE, PAPER_LOW, PAPER_OUT
from orderbell.services.printing.tickets import ticket_of
from orderbell.storage import outgoing
from orderbell.storage.database import Database
from orderbell.storage.tables import Outgoing, OutgoingAttempt, Printer, utcnow

_OUT = cast(Table, Outgoing.__table__)
_PRINTERS = cast(Table, Printer.__table__)
_ATTEMPTS = cast(Table, OutgoingAttempt.__table__)

#: The media types a ticket is served in.
MEDIA_TYPES = ("text/plain",)


def status_of(code: str) -> tuple[str, str | None]:
    """A printer status code (``"200 OK"``, ``"410%20Out%20of%20paper"``) as the
    printer's status and detail."""
    text = unquote(code).strip()
    number = text[:3]
    if number.startswith("2") or text.upper() == "OK":
        return (PAPER_LOW if number == "211" or number == "210" else ONLINE), None
    if number.startswith("41"):
        return PAPER_OUT, text[:64]
    if number.startswith("42"):
        return COVER_OPEN, text[:64]
    return ERROR, text[:64] or None


def succeeded(code: str) -> bool:
    """Whether a DELETE's ``code`` says the job printed."""
    text = unquote(code).strip()
    return text.startswith("2") or text.upper() == "OK"


@dataclass(frozen=True, slots=True)
class Job:
    """A job as the printer fetches it."""

    token: str
    media_type: str
    body: bytes


def _pending(printer_id: int) -> Any:
    return (
        select(Outgoing)
        .where(
            Outgoing.kind == outgoing.CLOUDPRNT,
            Outgoing.target_id == printer_id,
            Outgoing.state.in_((outgoing.QUEUED, outgoing.SENT)),
        )
        .order_by(Outgoing.id)
        .limit(1)
    )


async def poll(db: Database, printer: Printer, body: dict[str, Any]) -> dict[str, Any]:
    """Answer a printer's POST: record what it says of itself, and whether a job waits."""
    code = str(body.get("statusCode") or "200 OK")
    status, detail = status_of(code)
    mac = body.get("printerMAC")
    now = utcnow()
    async with db.transaction() as session:
        values: dict[str, Any] = {"last_heard_at": now, "status": status, "status_detail": detail}
        if isinstance(mac, str) and mac:
            values["mac"] = mac[:32]
        await session.execute(
            update(_PRINTERS).where(_PRINTERS.c.id == printer.id).values(**values)
        )
        job = await session.scalar(_pending(printer.id))
        if job is not None and job.state == outgoing.SENT and status not in (ONLINE, PAPER_LOW):
            # It went wrong while printing: offered again once the printer is fine.
            await _attempt(session, job, now, None, f"printer reported {unquote(code)[:200]}")
            job.state = outgoing.QUEUED
    if job is None or not printer.enabled:
        return {"jobReady": False}
    return {"jobReady": True, "mediaTypes": list(MEDIA_TYPES), "jobToken": str(job.id)}


async def _attempt(
    session: Any, job: Outgoing, at: datetime, status: int | None, error: str | None
) -> None:
    job.attempts += 1
    job.last_error = error
    await session.execute(
        insert(_ATTEMPTS).values(
            outgoing_id=job.id,
            number=job.attempts,
            started_at=at,
            duration_ms=0,
            status=status,
            error=error,
        )
    )


async def fetch(
    db: Database, printer: Printer, *, token: str | None, media_type: str, zone: ZoneInfo
) -> Job:
    """Serve the printer's oldest unfinished job (the one ``token`` names, when given).

    Raises:
        NotFound: no job waits (or not the one named).
    """
    async with db.transaction() as session:
        job = await session.scalar(_pending(printer.id))
        if job is None or (token and token != str(job.id)):
            raise NotFound("No such print job.")
        data = orjson.loads(job.payload)
        if job.state == outgoing.QUEUED:
            job.state = outgoing.SENT
        token = str(job.id)
    try:
        ticket = await ticket_of(
            db,
            printer.shop_id,
            int(data["orderId"]),
            width=printer.width,
            zone=zone,
            reprint=bool(data.get("reprint")),
        )
    except NotFound:
        await _finish(db, printer, token, ok=False, error="order not found")
        raise
    text = preview(ticket) + "\n\n\n"
    return Job(token, media_type, text.encode("utf-8"))


async def confirm(db: Database, printer: Printer, *, token: str | None, code: str) -> str:
    """The printer's DELETE: its job printed (a 2xx code) or could not be printed.
    Returns the job's new state.

    Raises:
        NotFound: no job of this printer is being printed (or not the one named).
    """
    return await _finish(
        db, printer, token, ok=succeeded(code), error=None if succeeded(code) else unquote(code)
    )


async def _finish(
    db: Database, printer: Printer, token: str | None, *, ok: bool, error: str | None
) -> str:
    now = utcnow()
    async with db.transaction() as session:
        query = select(Outgoing).where(
            Outgoing.kind == outgoing.CLOUDPRNT,
            Outgoing.target_id == printer.id,
            Outgoing.state.in_((outgoing.QUEUED, outgoing.SENT)),
        )
        if token:
            if not token.isdigit():
                raise NotFound("No such print job.")
            query = query.where(Outgoing.id == int(token))
        else:
            query = query.where(Outgoing.state == outgoing.SENT)
        job = await session.scalar(query.order_by(Outgoing.id).limit(1).with_for_update())
        if job is None:
            raise NotFound("No such print job.")
        await _attempt(session, job, now, 200 if ok else None, error and error[:255])
        job.state = outgoing.DELIVERED if ok else outgoing.FAILED
        job.finished_at = now
        job.last_status = 200 if ok else None
        await session.execute(
            update(_PRINTERS).where(_PRINTERS.c.id == printer.id).values(last_heard_at=now)
        )
        return job.state
