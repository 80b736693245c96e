"""Print jobs: one outgoing row per order and printer, written with the acceptance.

When an order is accepted (by staff, or at payment when the shop has
auto-accept on) its ``order.accepted`` event is recorded in that
transaction; ``record`` turns it, in the same transaction, into one row per
enabled printer of the shop, with the message id ``order-<id>``: the unique
index on (kind, target, message id) makes each order print once per
printer. A reprint by hand gets a message id of its own.

Rows of ESC/POS printers are of kind ``print`` and are carried out by the
dispatcher (``services.printing.sender``); rows of CloudPRNT printers are
of kind ``cloudprnt`` and are fetched by the printer when it polls
(``services.printing.cloudprnt``). The job's state as the API shows it is
the row's: ``queued``, ``sent`` (a CloudPRNT printer fetched it),
``printed`` (delivered) or ``failed``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import Any, cast

import orjson
from sqlalchemy import Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from orderbell.domain.errors import BusinessError, NotFound
from orderbell.domain.events import Event, EventType
from orderbell.services.printing.printers import ESCPOS_TCP, iso
from orderbell.storage import outgoing
from orderbell.storage.database import Database
from orderbell.storage.tables import Order, Outgoing, Printer, utcnow

_OUT = cast(Table, Outgoing.__table__)

#: The ``event_type`` of a print job row.
TICKET = "ticket"
#: How the API names a row's state.
STATE_NAMES = {
    outgoing.QUEUED: "queued",
    outgoing.SENT: "sent",
    outgoing.DELIVERED: "printed",
    outgoing.FAILED: "failed",
}


def row_kind(printer_kind: str) -> str:
    """The outgoing kind of a printer's jobs."""
    return outgoing.PRINT if printer_kind == ESCPOS_TCP else outgoing.CLOUDPRNT


def message_id(order_id: int, reprint: str | None = None) -> str:
    """``order-<id>``, or ``order-<id>-reprint-<token>`` for a reprint by hand."""
    return f"order-{order_id}" if reprint is None else f"order-{order_id}-reprint-{reprint}"


def _rows(
    printers: Sequence[tuple[int, int, str]], order_id: int, number: str, reprint: str | None
) -> list[dict[str, Any]]:
    now = utcnow()
    payload = orjson.dumps(
        {"orderId": order_id, "orderNumber": number, "reprint": reprint is not None}
    ).decode()
    return [
        {
            "kind": row_kind(kind),
            "target_id": printer_id,
            "shop_id": shop_id,
            "message_id": message_id(order_id, reprint),
            "event_type": TICKET,
            "payload": payload,
            "state": outgoing.QUEUED,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for printer_id, shop_id, kind in printers
    ]


async def _printers_of(session: AsyncSession, shops: set[int]) -> list[tuple[int, int, str]]:
    rows = await session.execute(
        select(Printer.id, Printer.shop_id, Printer.kind)
        .where(
            Printer.shop_id.in_(shops),
            Printer.enabled.is_(True),
            Printer.removed_at.is_(None),
        )
        .order_by(Printer.id)
    )
    return [(int(a), int(b), str(c)) for a, b, c in rows]


async def record(session: AsyncSession, events: Sequence[Event]) -> int:
    """Write a print job per enabled printer for each accepted order among ``events``,
    in the caller's transaction; returns how many."""
    accepted = [e for e in events if e.type is EventType.ORDER_ACCEPTED and e.shop_id is not None]
    if not accepted:
        return 0
    printers = await _printers_of(session, {cast(int, e.shop_id) for e in accepted})
    if not printers:
        return 0
    rows: list[dict[str, Any]] = []
    for event in accepted:
        mine = [p for p in printers if p[1] == event.shop_id]
        rows += _rows(mine, int(event.data["orderId"]), str(event.data["orderNumber"]), None)
    if rows:
        await session.execute(_insert_once(session), rows)
    return len(rows)


def _insert_once(session: AsyncSession) -> Any:
    """An INSERT of job rows that skips a row whose order already has its job on that
    printer (the unique message id), rather than failing the acceptance with it."""
    unique = ["kind", "target_id", "message_id"]
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(_OUT).on_conflict_do_nothing(index_elements=unique)
    return sqlite.insert(_OUT).on_conflict_do_nothing(index_elements=unique)


def with_print_jobs(
    record_events: Callable[[AsyncSession, Sequence[Event]], Any],
) -> Callable[[AsyncSession, Sequence[Event]], Any]:
    """The outbox's ``record_events`` hook that also writes print jobs."""

    async def both(session: AsyncSession, events: Sequence[Event]) -> int:
        return int(await record_events(session, events) or 0) + await record(session, events)

    return both


def job_public(row: Outgoing) -> dict[str, Any]:
    """A print job as the API shows it."""
    data = orjson.loads(row.payload)
    return {
        "id": row.id,
        "printerId": row.target_id,
        "orderId": data.get("orderId"),
        "orderNumber": data.get("orderNumber"),
        "reprint": bool(data.get("reprint")),
        "messageId": row.message_id,
        "state": STATE_NAMES.get(row.state, row.state),
        "attempts": row.attempts,
        "createdAt": iso(row.created_at),
        "finishedAt": iso(row.finished_at),
        "lastError": row.last_error,
    }


async def reprint(
    db: Database, shop_id: int, order_id: int, poke: Callable[[], None] | None = None
) -> list[dict[str, Any]]:
    """Print an order's ticket again on every enabled printer of the shop.

    Raises:
        NotFound: no such order in this shop.
        BusinessError: the order is not paid yet, or the shop has no printer.
    """
    async with db.transaction() as session:
        order = await session.scalar(
            select(Order).where(Order.id == order_id, Order.shop_id == shop_id)
        )
        if order is None:
            raise NotFound("Order not found.")
        if order.checkout_time is None:
            raise BusinessError("The order is not paid; there is no ticket to print yet.")
        printers = await _printers_of(session, {shop_id})
        if not printers:
            raise BusinessError(
                "Your shop has no printer; add one, or use the ticket preview instead."
            )
        rows = _rows(printers, order.id, order.number, secrets.token_hex(4))
        ids = (await session.scalars(insert(_OUT).returning(_OUT.c.id), rows)).all()
        found = list(await session.scalars(select(Outgoing).where(Outgoing.id.in_(ids))))
        shown = [job_public(r) for r in sorted(found, key=lambda r: r.id)]
    if poke is not None:
        poke()
    return shown


async def jobs(
    db: Database,
    shop_id: int,
    *,
    order_id: int | None = None,
    printer_id: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """A shop's print jobs, newest first (of one order, of one printer)."""
    conditions = [
        Outgoing.kind.in_((outgoing.PRINT, outgoing.CLOUDPRNT)),
        Outgoing.shop_id == shop_id,
    ]
    if order_id is not None:
        conditions.append(Outgoing.message_id.like(f"order-{order_id}%"))
    if printer_id is not None:
        conditions.append(Outgoing.target_id == printer_id)
    async with db.sessions() as session:
        rows = await session.scalars(
            select(Outgoing).where(*conditions).order_by(Outgoing.id.desc()).limit(limit)
        )
        found = [job_public(r) for r in rows]
    if order_id is not None:
        found = [j for j in found if j["orderId"] == order_id]
    return found
