"""Reading the alert log back: for a resuming console, and for the hub's gaps."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class CatchUp:
    """What a connecting console is told before it goes live.

    ``window`` is ``None`` for a console without ``since``: it is sent no
    alert from the log, so none is read, only the latest seq. ``unhandled``
    holds the seqs of every open alert of the shop (empty when not asked for).
    """

    latest_seq: int
    window: alert_log.Window | None
    unhandled: list[int]


async def catch_up(
    database: Database,
    shop_id: int,
    since: int | None,
    retention: Retention,
    *,
    unhandled: bool,
) -> CatchUp:
    """Read what a console connecting with ``since`` (or none) needs, in one session."""
    async with database.sessions() as session:
        if since is None:
            window = None
            latest = await alert_log.latest_seq(session, shop_id)
        else:
            window = await alert_log.window(
                session,
                shop_id,
                since,
                max_count=retention.max_count,
                not_before=utcnow() - retention.max_age,
            )
            latest = window.latest_seq
        seqs = await alert_log.open_seqs(session, shop_id) if unhandled else []
    return CatchUp(latest, window, seqs)


async def open_alerts(database: Database, shop_id: int) -> list[Alert]:
    """Every alert of the shop that nobody has handled yet, oldest first."""
    async with database.sessions() as session:
        return await alert_log.open_alerts(session, shop_id)
