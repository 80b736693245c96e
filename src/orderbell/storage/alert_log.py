"""The alert log: where an alert is stored, with its per-shop gapless ``seq``.

``append`` must run inside the transaction that makes the order change, so
that the change and its alert commit or vanish together (a transactional
outbox). The seq comes from a counter on the shop row: the UPDATE locks that
row until commit, so concurrent alerts of one shop are numbered one after
another, and a rolled-back transaction gives its number back.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderbell.domain.alerts import Alert, AlertType, alert_content
from orderbell.storage.tables import AlertRow, Shop, utcnow


def to_alert(row: AlertRow) -> Alert:
    """The domain view of a stored alert."""
    return Alert(
        shop_id=row.shop_id,
        seq=row.seq,
        type=AlertType(row.type),
        order_id=row.order_id,
        order_number=row.order_number,
        content=row.content,
        created_at=row.created_at,
    )


async def append(
    session: AsyncSession,
    *,
    shop_id: int,
    type: AlertType,
    order_id: int | None,
    order_number: str,
    content: str | None = None,
) -> Alert:
    """Store a new alert of ``shop_id`` with the next seq, in the caller's transaction."""
    seq = (
        await session.execute(
            update(Shop)
            .where(Shop.id == shop_id)
            .values(alert_seq=Shop.alert_seq + 1)
            .returning(Shop.alert_seq)
        )
    ).scalar_one()
    row = AlertRow(
        shop_id=shop_id,
        seq=seq,
        type=int(type),
        order_id=order_id,
        order_number=order_number,
        content=content if content is not None else alert_content(order_number),
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return to_alert(row)


async def mark_published(session: AsyncSession, shop_seqs: Sequence[tuple[int, int]]) -> None:
    """Record that these (shop, seq) alerts went to the broker."""
    now = utcnow()
    for shop_id, seq in shop_seqs:
        await session.execute(
            update(AlertRow)
            .where(AlertRow.shop_id == shop_id, AlertRow.seq == seq)
            .values(published_at=now)
        )


async def latest_seq(session: AsyncSession, shop_id: int) -> int:
    """The seq of the shop's newest alert (0 when it has none)."""
    seq = await session.scalar(select(Shop.alert_seq).where(Shop.id == shop_id))
    return int(seq or 0)


async def after(session: AsyncSession, shop_id: int, seq: int, *, limit: int) -> list[Alert]:
    """The shop's alerts with a seq above ``seq``, oldest first, at most ``limit``."""
    rows = await session.scalars(
        select(AlertRow)
        .where(AlertRow.shop_id == shop_id, AlertRow.seq > seq)
        .order_by(AlertRow.seq)
        .limit(limit)
    )
    return [to_alert(r) for r in rows]
