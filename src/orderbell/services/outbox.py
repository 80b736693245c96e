"""Transactions whose alerts go to the broker once they are committed, and the relay.

An alert is stored in the transaction of the order change that causes it and
published only after that transaction commits: no console hears of a change
that was rolled back. Published alerts are marked in the log in batches; the
relay publishes any committed alert left unmarked (the process died between
commit and publish, or the broker was down). A duplicate publish is harmless:
every hub passes each seq on once.

A request never waits for a broker that can stall (Redis): its alerts go to
a bounded backlog that one background task publishes, in order, in batches.
When a batch fails the broker is known to be down (``Outage``, which logs
it once): the backlog is left to the relay, new alerts are not even tried,
and the relay's turns find out when the broker is back. Nothing is lost on
shutdown either: what was not published stays unmarked, and the relay of
the next start sends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbell.broker import Broker
from orderbell.broker.outage import Outage, describe
from orderbell.delivery.frames import encode_alert
from orderbell.domain.alerts import Alert, AlertType
from orderbell.domain.events import Event, EventType
from orderbell.protocol import control, now_iso
from orderbell.services.chores import Chores
from orderbell.storage import alert_log
from orderbell.storage.database import Database
from orderbell.storage.tables import AlertRow, utcnow

log = logging.getLogger(__name__)

#: (shop id, encoded frame, the alert's seq or None for a control frame)
Message = tuple[int, bytes, int | None]


class BrokerUnavailable(Exception):
    """The broker did not take a batch of messages (refused, timed out, not connected)."""


@dataclass
class Work:
    """One transaction in progress, and what it will publish on commit."""

    session: AsyncSession
    alerts: list[Alert] = field(default_factory=list)
    notices: list[tuple[int, bytes]] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def emit(self, type: EventType, shop_id: int | None, **data: object) -> Event:
        """Record an event for the webhook endpoints subscribed to it: written in
        this transaction, delivered by the dispatcher after commit."""
        event = Event(type, shop_id, dict(data))
        self.events.append(event)
        return event

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
    """The way into the database for anything that may raise or handle an alert.

    Args:
        relay_interval: seconds between the relay's turns (and, while the
            broker is down, between checks that it is back).
        relay_grace: an unmarked alert younger than this is left to its
            publisher rather than relayed.
        flush_interval: seconds between marking published alerts in the log.
        backlog: messages waiting for the background publisher at most;
            beyond that, alerts are left to the relay.
        report_interval: while the broker is down, seconds between log lines
            that count the alerts waiting for the relay.
        drain_timeout: seconds ``stop`` waits for the backlog to be published.
        batch: messages published in one round trip at most.
    """

    def __init__(
        self,
        database: Database,
        broker: Broker,
        *,
        relay_interval: float = 5.0,
        relay_grace: float = 2.0,
        flush_interval: float = 0.2,
        backlog: int = 10_000,
        report_interval: float = 60.0,
        drain_timeout: float = 5.0,
        batch: int = 500,
        outage: Outage | None = None,
    ) -> None:
        self.database = database
        self._broker = broker
        self._relay_interval = relay_interval
        self._relay_grace = timedelta(seconds=relay_grace)
        self._flush_interval = flush_interval
        self._backlog_max = backlog
        self._report_interval = report_interval
        self._drain_timeout = drain_timeout
        self._batch = batch
        self._published: list[tuple[int, int]] = []
        self._backlog: deque[Message] = deque()
        self._sender: asyncio.Task[None] | None = None
        # With one connection (SQLite), holding it while the broker answers
        # would hold every request; with a pool, rows stay locked while
        # they are published so that several relays share the work.
        self._lock_while_relaying = not database.is_sqlite
        self._chores = Chores("outbox")
        #: Whether the broker is known to be down; logs the outage once.
        self.outage = outage or Outage()
        self.relayed = 0
        #: Alerts not published after commit but left to the relay (broker
        #: down, or the backlog full).
        self.left_to_relay = 0
        #: Called with the alerts of every committed transaction (metrics).
        self.on_commit: Callable[[Sequence[Alert]], None] | None = None
        #: Writes a transaction's events as outgoing rows, inside the
        #: transaction, and returns something true when it wrote any (set by the
        #: composition root; without it events are dropped).
        self.record_events: Callable[[AsyncSession, Sequence[Event]], Awaitable[object]] | None = (
            None
        )
        #: Called after a commit that wrote outgoing rows, so that this
        #: process's dispatcher carries them out at once.
        self.on_outgoing: Callable[[], None] | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Work]:
        """A transaction; its alerts and notices are published once it has committed."""
        async with self.database.transaction() as session:
            work = Work(session)
            yield work
            wrote: object = False
            if work.events and self.record_events is not None:
                wrote = await self.record_events(session, work.events)
        # Only a commit that wrote rows wakes the dispatcher (most events
        # have no endpoint); ``record_events`` returns what it wrote.
        if wrote and self.on_outgoing is not None:
            self.on_outgoing()
        if work.alerts and self.on_commit is not None:
            self.on_commit(work.alerts)
        messages: list[Message] = [(a.shop_id, encode_alert(a), a.seq) for a in work.alerts]
        messages += [(shop_id, payload, None) for shop_id, payload in work.notices]
        if messages:
            await self._hand_over(messages)

    async def publish(self, alerts: Sequence[Alert]) -> None:
        """Hand committed alerts to the broker without waiting for it (unless it is
        in-process). A failure is logged once per outage, never raised: the alert
        is safe in the log, and the relay will publish it."""
        await self._hand_over([(a.shop_id, encode_alert(a), a.seq) for a in alerts])

    async def _hand_over(self, messages: list[Message]) -> None:
        if self._broker.instant:
            await self._deliver(messages)
            return
        if self.outage.down or len(self._backlog) + len(messages) > self._backlog_max:
            # Known down: not even tried, the relay carries them when it is back.
            self._leave(messages)
            return
        self._backlog.extend(messages)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(
                self._drain(), name="orderbell-publisher"
            )

    async def _drain(self) -> None:
        while self._backlog:
            size = min(self._batch, len(self._backlog))
            await self._deliver([self._backlog.popleft() for _ in range(size)])
            if self.outage.down:
                rest = list(self._backlog)
                self._backlog.clear()
                self._leave(rest)

    async def _deliver(self, messages: Sequence[Message]) -> None:
        try:
            await self._send(messages)
        except BrokerUnavailable as exc:
            self._leave(messages)
            self.outage.went_down(exc.__cause__ or exc)
        else:
            self._published += [(shop, seq) for shop, _, seq in messages if seq is not None]

    async def _send(self, messages: Sequence[Message]) -> None:
        try:
            await self._broker.publish_many([(shop, payload) for shop, payload, _ in messages])
        except Exception as exc:
            raise BrokerUnavailable(describe(exc)) from exc

    def _leave(self, messages: Sequence[Message]) -> None:
        # Alerts stay unmarked in the log for the relay; a lost control
        # frame only costs a console its live "handled" (it resyncs on resume).
        self.left_to_relay += sum(1 for _, _, seq in messages if seq is not None)

    async def start(self) -> None:
        """Relay what an earlier process left unpublished, then keep doing so in the background."""
        with contextlib.suppress(Exception):
            await self._relay_turn()
        self._chores.every(self._flush_interval, self.flush)
        self._chores.every(self._relay_interval, self._relay_turn)
        self._chores.every(min(self._report_interval, self._relay_interval), self._report)

    async def stop(self) -> None:
        """Stop the background work, publish the backlog (for a while) and record what
        was published; whatever is left stays unmarked for the relay of the next start."""
        await self._chores.stop()
        sender = self._sender
        if sender is not None and not sender.done():
            try:
                async with asyncio.timeout(self._drain_timeout):
                    await asyncio.shield(sender)
            except TimeoutError:
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender
        self._backlog.clear()
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

    async def _relay_turn(self) -> None:
        recovering = self.outage.down
        if recovering:
            try:
                await self._broker.ping()
            except Exception:
                return  # still down; _report says so now and then
        try:
            # Coming back, nobody else here publishes what waited: no grace.
            relayed = await self.relay(grace=timedelta(0) if recovering else None)
        except BrokerUnavailable as exc:
            self.outage.went_down(exc.__cause__ or exc)
            return
        self.outage.came_back(relayed)

    async def _report(self) -> None:
        if not self.outage.report_due(self._report_interval):
            return
        async with self.database.sessions() as session:
            waiting = await session.scalar(
                select(func.count()).select_from(AlertRow).where(AlertRow.published_at.is_(None))
            )
        self.outage.report(int(waiting or 0))

    async def relay(self, limit: int = 500, *, grace: timedelta | None = None) -> int:
        """Publish committed alerts that were never marked published; return how many.

        Raises:
            BrokerUnavailable: the broker did not take them (they stay unmarked).
        """
        await self.flush()
        older_than = utcnow() - (self._relay_grace if grace is None else grace)
        total = 0
        while True:
            async with self.database.transaction() as session:
                alerts = await alert_log.unpublished(session, older_than=older_than, limit=limit)
                keys = [(a.shop_id, a.seq) for a in alerts]
                if alerts and self._lock_while_relaying:
                    await self._send([(a.shop_id, encode_alert(a), a.seq) for a in alerts])
                    await alert_log.mark_published(session, keys)
            if alerts and not self._lock_while_relaying:
                await self._send([(a.shop_id, encode_alert(a), a.seq) for a in alerts])
                async with self.database.transaction() as session:
                    await alert_log.mark_published(session, keys)
            total += len(alerts)
            self.relayed += len(alerts)
            if len(alerts) < limit:
                break
        if total and not self.outage.down:
            log.warning("relayed %d alerts that had not been published", total)
        return total
