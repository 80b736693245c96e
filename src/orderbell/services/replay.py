"""Reading the alert log back: for a resuming console, and for the hub's gaps."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select

from orderbell.delivery.frames import Frame, encode_alert
from orderbell.domain.alerts import Alert
from orderbell.storage import alert_log
from orderbell.storage.database import Database
from orderbell.storage.tables import AlertRow, utcnow


class LogSource:
    """The alert log as the hub reads it (``delivery.hub.AlertSource``)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def latest_seq(self, shop_id: int) -> int:
        """The seq of the shop's newest alert (0 if none)."""
        async with self._database.sessions() as session:
            return await alert_log.latest_seq(session, shop_id)

    async def frames(self, shop_id: int, first: int, last: int) -> Sequence[Frame]:
        """The shop's alert frames with seq in ``first..last``, in order."""
        async with self._database.sessions() as session:
            rows = await session.scalars(
                select(AlertRow)
                .where(AlertRow.shop_id == shop_id, AlertRow.seq >= first, AlertRow.seq <= last)
                .order_by(AlertRow.seq)
            )
            alerts = [alert_log.to_alert(r) for r in rows]
        return [Frame.of(encode_alert(a), a.seq) for a in alerts]


class Retention:
    """How far back a resuming console is served: a time and a count."""

    def __init__(self, *, max_age: timedelta, max_count: int) -> None:
        self.max_age = max_age
        self.max_count = max_count


async def resume(
    database: Database, shop_id: int, since: int, retention: Retention
) -> alert_log.Window:
    """What a console that last saw ``since`` has missed, within retention."""
    async with database.sessions() as session:
        return await alert_log.window(
            session,
            shop_id,
            since,
            max_count=retention.max_count,
            not_before=utcnow() - retention.max_age,
        )


async def open_alerts(database: Database, shop_id: int) -> list[Alert]:
    """The shop's alerts nobody has handled yet."""
    async with database.sessions() as session:
        return await alert_log.open_alerts(session, shop_id)
