"""Transactions whose alerts go to the broker once they are committed, and the relay.

An alert is stored in the transaction of the order change that causes it and
published only after that transaction commits: no console hears of a change
that was rolled back. Published alerts are marked in the log in batches; the
relay publishes any committed alert left unmarked (the process died between
commit and publish, or the broker was down). A duplicate publish is harmless:
every hub passes each seq on once.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from orderbell.broker import Broker
from orderbell.delivery.frames import encode_alert
from orderbell.domain.alerts import Alert, AlertType
from orderbell.protocol import control, now_iso
from orderbell.services.chores import Chores
from orderbell.storage import alert_log
from orderbell.storage.database import Database
from orderbell.storage.tables import utcnow

log = logging.getLogger(__name__)


@dataclass
class Work:
    """One transaction in progress, and what it will publish on commit."""

    session: AsyncSession
    alerts: list[Alert] = field(default_factory=list)
    notices: list[tuple[int, bytes]] = field(default_factory=list)

    async def raise_alert(
        self,
        *,
        shop_id: int,
        type: AlertType,
        order_id: int | None,
        order_number: str,
        content: str | None = None,
        external_order_id: int | None = None,
        source: str = "order",
    ) -> Alert:
        """Store an alert in this transaction; it is published after commit."""
        alert = await alert_log.append(
            self.session,
            shop_id=shop_id,
            type=type,
            order_id=order_id,
            order_number=order_number,
            content=content,
            external_order_id=external_order_id,
            source=source,
        )
        self.alerts.append(alert)
        return alert

    async def handle_alerts(
        self,
        *,
        shop_id: int,
        action: str,
        order_id: int | None = None,
        seq: int | None = None,
        types: Sequence[AlertType] = (AlertType.NEW_ORDER, AlertType.REMINDER),
        by: int | None = None,
        by_name: str | None = None,
        reply: str | None = None,
    ) -> list[Alert]:
        """Mark open alerts handled (of one order, of ``types``; or the one with
        ``seq``); after commit every console of the shop gets a ``handled`` frame for each."""
        handled = await alert_log.mark_handled(
            self.session,
            shop_id=shop_id,
            order_id=order_id,
            seq=seq,
            types=types,
            action=action,
            by=by,
            reply=reply,
        )
        for alert in handled:
            self.notices.append(
                (
                    shop_id,
                    control(
                        "handled",
                        shopId=shop_id,
                        alertSeq=alert.seq,
                        alertType=int(alert.type),
                        orderId=alert.order_id,
                        action=action,
                        by={"id": by, "name": by_name} if by is not None else None,
                        reply=reply,
                        time=now_iso(),
                    ),
                )
            )
        return handled


class Outbox:
    """The way into the database for anything that may raise or handle an alert."""

    def __init__(
        self,
        database: Database,
        broker: Broker,
        *,
        relay_interval: float = 5.0,
        relay_grace: float = 2.0,
        flush_interval: float = 0.2,
    ) -> None:
        self.database = database
        self._broker = broker
        self._relay_interval = relay_interval
        self._relay_grace = timedelta(seconds=relay_grace)
        self._flush_interval = flush_interval
        self._published: list[tuple[int, int]] = []
        self._chores = Chores("outbox")
        self.relayed = 0
        #: Called with the alerts of every committed transaction (metrics).
        self.on_commit: Callable[[Sequence[Alert]], None] | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Work]:
        """A transaction; its alerts and notices are published once it has committed."""
        async with self.database.transaction() as session:
            work = Work(session)
            yield work
        if work.alerts:
            if self.on_commit is not None:
                self.on_commit(work.alerts)
            await self.publish(work.alerts)
        for shop_id, payload in work.notices:
            try:
                await self._broker.publish(shop_id, payload)
            except Exception as exc:
                # One line, not a traceback: during a broker outage every
                # request would print one.
                log.warning("publishing a notice for shop %s failed: %r", shop_id, exc)

    async def publish(self, alerts: Sequence[Alert]) -> None:
        """Hand committed alerts to the broker. A failure is logged, never raised:
        the alert is safe in the log, and the relay will publish it."""
        for alert in alerts:
            try:
                await self._broker.publish(alert.shop_id, encode_alert(alert))
            except Exception as exc:
                log.warning(
                    "publishing alert %s/%s failed (the relay will retry): %r",
                    alert.shop_id,
                    alert.seq,
                    exc,
                )
            else:
                self._published.append((alert.shop_id, alert.seq))

    async def start(self) -> None:
        """Relay what an earlier process left unpublished, then keep doing so in the background."""
        with contextlib.suppress(Exception):
            await self.relay()
        self._chores.every(self._flush_interval, self.flush)
        self._chores.every(self._relay_interval, self.relay)

    async def stop(self) -> None:
        """Stop the background work and record what was published."""
        await self._chores.stop()
        with contextlib.suppress(Exception):
            await self.flush()

    async def flush(self) -> None:
        """Mark the alerts published since the last flush."""
        batch, self._published = self._published, []
        if not batch:
            return
        try:
            async with self.database.transaction() as session:
                await alert_log.mark_published(session, batch)
        except Exception:
            self._published.extend(batch)
            raise

    async def relay(self, limit: int = 500) -> int:
        """Publish committed alerts that were never marked published; return how many."""
        await self.flush()
        total = 0
        while True:
            async with self.database.transaction() as session:
                alerts = await alert_log.unpublished(
                    session, older_than=utcnow() - self._relay_grace, limit=limit
                )
                for alert in alerts:
                    await self._broker.publish(alert.shop_id, encode_alert(alert))
                await alert_log.mark_published(session, [(a.shop_id, a.seq) for a in alerts])
            total += len(alerts)
            if len(alerts) < limit:
                break
        if total:
            log.warning("relayed %d alerts that had not been published", total)
            self.relayed += total
        return total
