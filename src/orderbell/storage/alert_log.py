"""The alert log: where an alert is stored, with its per-shop gapless ``seq``.

``append`` must run inside the transaction that makes the order change, so
that the change and its alert commit or vanish together (a transactional
outbox). The seq comes from a counter on the shop row: the UPDATE locks that
row until commit, so concurrent alerts of one shop are numbered one after
another, and a rolled-back transaction gives its number back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, insert, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderbell.domain.alerts import Alert, AlertType, alert_content
from orderbell.storage.tables import AlertRow, Shop, utcnow


def to_alert(row: AlertRow) -> Alert:
    """The domain view of a stored alert."""
    return Alert(
        shop_id=row.shop_id,
        seq=row.seq,
        type=AlertType(row.type),
        order_id=row.order_id if row.order_id is not None else row.external_order_id,
        order_number=row.order_number,
        content=row.content,
        created_at=row.created_at,
        handled_at=row.handled_at,
        handled_action=row.handled_action,
        handled_by=row.handled_by,
        reply=row.reply,
        source=row.source,
    )


_SHOPS = cast(Table, Shop.__table__)
_NEXT_SEQ = (
    update(_SHOPS)
    .where(_SHOPS.c.id == bindparam("shop"))
    .values(alert_seq=_SHOPS.c.alert_seq + 1)
    .returning(_SHOPS.c.alert_seq)
)
_INSERT = insert(cast(Table, AlertRow.__table__))


async def append(
    session: AsyncSession,
    *,
    shop_id: int,
    type: AlertType,
    order_id: int | None,
    order_number: str,
    content: str | None = None,
    external_order_id: int | None = None,
    source: str = "order",
) -> Alert:
    """Store a new alert of ``shop_id`` with the next seq, in the caller's transaction."""
    # Core statements built once: this runs for every alert, and building
    # statements and the ORM's unit of work cost more than the SQL itself.
    seq = (await session.execute(_NEXT_SEQ, {"shop": shop_id})).scalar_one()
    alert = Alert(
        shop_id=shop_id,
        seq=seq,
        type=type,
        order_id=order_id if order_id is not None else external_order_id,
        order_number=order_number,
        content=content if content is not None else alert_content(order_number),
        created_at=utcnow(),
        source=source,
    )
    await session.execute(
        _INSERT,
        {
            "shop_id": shop_id,
            "seq": seq,
            "type": int(type),
            "order_id": order_id,
            "order_number": order_number,
            "content": alert.content,
            "created_at": alert.created_at,
            "external_order_id": external_order_id,
            "source": source,
        },
    )
    return alert


async def mark_published(session: AsyncSession, shop_seqs: Sequence[tuple[int, int]]) -> None:
    """Record that these (shop, seq) alerts went to the broker."""
    if shop_seqs:
        await session.execute(
            update(AlertRow)
            .where(tuple_(AlertRow.shop_id, AlertRow.seq).in_(list(shop_seqs)))
            .values(published_at=utcnow())
        )


async def unpublished(session: AsyncSession, *, older_than: datetime, limit: int) -> list[Alert]:
    """Committed alerts that never reached the broker (oldest first).

    Rows are locked with SKIP LOCKED where the database has it, so that
    several relays share the work instead of publishing twice.
    """
    rows = await session.scalars(
        select(AlertRow)
        .where(AlertRow.published_at.is_(None), AlertRow.created_at < older_than)
        .order_by(AlertRow.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [to_alert(r) for r in rows]


async def latest_seq(session: AsyncSession, shop_id: int) -> int:
    """The seq of the shop's newest alert (0 when it has none)."""
    seq = await session.scalar(select(Shop.alert_seq).where(Shop.id == shop_id))
    return int(seq or 0)


@dataclass(frozen=True, slots=True)
class Window:
    """What a console resuming after ``since`` gets: the alerts still retained
    after it, and whether some it missed are no longer retained (a reset)."""

    alerts: list[Alert]
    latest_seq: int
    reset: bool


async def window(
    session: AsyncSession, shop_id: int, since: int, *, max_count: int, not_before: datetime
) -> Window:
    """The retained alerts of a shop after ``since``: at most the newest ``max_count``,
    none created before ``not_before``; oldest first.

    ``reset`` is true when the console missed alerts that are beyond
    retention, or when ``since`` is ahead of the log (the log was replaced).
    """
    latest = await latest_seq(session, shop_id)
    ahead = since > latest
    start = 0 if ahead else since
    rows = list(
        await session.scalars(
            select(AlertRow)
            .where(
                AlertRow.shop_id == shop_id,
                AlertRow.seq > start,
                AlertRow.created_at >= not_before,
            )
            .order_by(AlertRow.seq.desc())
            .limit(max_count)
        )
    )
    rows.reverse()
    if rows and rows[-1].seq > latest:
        # Each statement has its own snapshot under PostgreSQL's READ
        # COMMITTED: alerts committed between the two reads are in ``rows``,
        # so the window must end with them, or a resuming console would get
        # them again live.
        latest = rows[-1].seq
    # Seqs are gapless, so anything missed starts at start + 1.
    cut = latest > start and (not rows or rows[0].seq != start + 1)
    return Window([to_alert(r) for r in rows], latest, reset=ahead or cut)


async def mark_handled(
    session: AsyncSession,
    *,
    shop_id: int,
    action: str,
    by: int | None,
    order_id: int | None = None,
    seq: int | None = None,
    types: Sequence[AlertType] = (AlertType.NEW_ORDER, AlertType.REMINDER),
    reply: str | None = None,
) -> list[Alert]:
    """Mark the shop's open alerts of ``types`` handled (those of one order, or
    the one with ``seq``); return them as now stored."""
    conditions = [
        AlertRow.shop_id == shop_id,
        AlertRow.type.in_([int(t) for t in types]),
        AlertRow.handled_at.is_(None),
    ]
    if order_id is not None:
        conditions.append(AlertRow.order_id == order_id)
    if seq is not None:
        conditions.append(AlertRow.seq == seq)
    # One conditional UPDATE: of two transactions handling the same alert at
    # once, only the one whose UPDATE still finds it open gets it back, so a
    # handled alert is announced once whatever the callers locked before.
    stmt = (
        update(AlertRow)
        .where(*conditions)
        .values(handled_at=utcnow(), handled_action=action, handled_by=by, reply=reply)
        .returning(AlertRow)
        .execution_options(synchronize_session=False)
    )
    rows = sorted((await session.scalars(stmt)).all(), key=lambda r: r.seq)
    return [to_alert(r) for r in rows]


_ALERTS = cast(Table, AlertRow.__table__)


@dataclass(frozen=True, slots=True)
class HandledAlert:
    """An alert just marked handled: what a ``handled`` frame names."""

    shop_id: int
    seq: int
    type: AlertType
    order_id: int


async def mark_orders_handled(
    session: AsyncSession,
    order_ids: Sequence[int],
    *,
    action: str,
    types: Sequence[AlertType] = (AlertType.NEW_ORDER, AlertType.REMINDER),
) -> list[HandledAlert]:
    """``mark_handled`` for the open alerts of many orders at once (a sweep's batch):
    one conditional UPDATE, so each alert is still announced once. Returns them in
    the order of their shop and seq."""
    if not order_ids:
        return []
    stmt = (
        update(_ALERTS)
        .where(
            _ALERTS.c.order_id.in_(list(order_ids)),
            _ALERTS.c.type.in_([int(t) for t in types]),
            _ALERTS.c.handled_at.is_(None),
        )
        .values(handled_at=utcnow(), handled_action=action, handled_by=None, reply=None)
        .returning(_ALERTS.c.shop_id, _ALERTS.c.seq, _ALERTS.c.type, _ALERTS.c.order_id)
    )
    rows = (await session.execute(stmt)).all()
    return sorted(
        (HandledAlert(r.shop_id, r.seq, AlertType(r.type), r.order_id) for r in rows),
        key=lambda a: (a.shop_id, a.seq),
    )


async def open_alerts(session: AsyncSession, shop_id: int) -> list[Alert]:
    """Every alert of the shop that nobody has handled yet, oldest first.

    All of them, never the first so many: a console that got only the oldest
    would stop ringing for the newest orders. Their number is bounded by the
    shop's open orders (an order's alerts are settled when it moves on) and
    the alerts of another order system not yet dismissed.
    """
    rows = await session.scalars(
        select(AlertRow)
        .where(AlertRow.shop_id == shop_id, AlertRow.handled_at.is_(None))
        .order_by(AlertRow.seq)
    )
    return [to_alert(r) for r in rows]


async def open_seqs(session: AsyncSession, shop_id: int) -> list[int]:
    """The seqs of every alert of the shop that nobody has handled yet, in order.

    Only the seq column is read: this runs for every protocol-2 console that connects.
    """
    seqs = await session.scalars(
        select(AlertRow.seq)
        .where(AlertRow.shop_id == shop_id, AlertRow.handled_at.is_(None))
        .order_by(AlertRow.seq)
    )
    return list(seqs)


async def latest_reply(session: AsyncSession, order_id: int) -> str | None:
    """The shop's newest answer to a reminder of this order, if any."""
    reply = await session.scalar(
        select(AlertRow.reply)
        .where(AlertRow.order_id == order_id, AlertRow.reply.is_not(None))
        .order_by(AlertRow.handled_at.desc(), AlertRow.seq.desc())
        .limit(1)
    )
    return reply
