"""Transactions whose alerts go to the broker once they are committed.

An alert is stored in the transaction of the order change that causes it and
published only after that transaction commits: a consoles never hears of an
order change that was rolled back, and an alert whose publish fails stays in
the log, unpublished, for resuming consoles and the relay.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from orderbell.broker import Broker
from orderbell.delivery.frames import encode_alert
from orderbell.domain.alerts import Alert, AlertType
from orderbell.storage import alert_log
from orderbell.storage.database import Database

log = logging.getLogger(__name__)


@dataclass
class Work:
    """One transaction in progress, and the alerts it will publish on commit."""

    session: AsyncSession
    alerts: list[Alert] = field(default_factory=list)

    async def raise_alert(
        self, *, shop_id: int, type: AlertType, order_id: int | None, order_number: str
    ) -> Alert:
        """Store an alert in this transaction; it is published after commit."""
        alert = await alert_log.append(
            self.session,
            shop_id=shop_id,
            type=type,
            order_id=order_id,
            order_number=order_number,
        )
        self.alerts.append(alert)
        return alert


class Outbox:
    """The way into the database for anything that may raise an alert."""

    def __init__(self, database: Database, broker: Broker) -> None:
        self.database = database
        self._broker = broker

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Work]:
        """A transaction; its alerts are published once it has committed."""
        async with self.database.transaction() as session:
            work = Work(session)
            yield work
        if work.alerts:
            await self.publish(work.alerts)

    async def publish(self, alerts: list[Alert]) -> None:
        """Hand committed alerts to the broker; a failure is logged, never raised,
        since the alert is safe in the log and the request has succeeded."""
        for alert in alerts:
            try:
                await self._broker.publish(alert.shop_id, encode_alert(alert))
            except Exception:
                log.exception("publishing alert %s/%s failed", alert.shop_id, alert.seq)
