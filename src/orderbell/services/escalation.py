"""The escalation ladder at work: the sweep that takes each order's due step, and
a shop's own settings.

Every paid order waiting for the shop carries ``escalation_due_at``, the
time the ladder should look at it next (set to the payment time at payment,
cleared when the order leaves status 2). Every server process sweeps every
``interval`` seconds: it takes the orders whose time has come with an
indexed query, in batches, locking them with ``SELECT ... FOR UPDATE SKIP
LOCKED`` (SQLite: its writers are serialized by ``BEGIN IMMEDIATE`` and the
sweep reads inside its write transaction), lets ``domain.escalation.decide``
pick the one step due, and writes the step's outcome (level, notifications
sent, next due time) in the same transaction as its frame and events. So:

- each step happens once per order however many processes sweep: a second
  sweep skips the rows the first holds, and once the first commits they no
  longer match;
- a step that fell due while every process was down is taken by the first
  sweep after start, late but once, and only the latest step that applies
  (see the domain module);
- an acceptance never races the ladder: accepting locks the order row too
  (``services.orders.act_as_shop``). An acceptance that locks first wins
  and takes the order off the ladder (the sweep then skips it, or finds it
  no longer waiting); an auto-cancel that locks first wins, and the
  acceptance that waited for it is refused with ``AUTO_CANCELLED_MESSAGE``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, delete, select, update

from orderbell.domain.alerts import AlertType
from orderbell.domain.errors import BusinessError, NotFound
from orderbell.domain.escalation import (
    AUTO_CANCEL_REASON,
    Decision,
    Ladder,
    Own,
    Step,
    decide,
    problems,
)
from orderbell.domain.events import EventType
from orderbell.domain.orders import Action, OrderState, OrderStatus, PayStatus, apply, settles
from orderbell.protocol import control
from orderbell.services.chores import Chores
from orderbell.services.outbox import Outbox, Work
from orderbell.storage.database import Database
from orderbell.storage.tables import Order, Shop, ShopEscalation, utcnow

log = logging.getLogger(__name__)

#: Orders taken in one transaction at most.
BATCH = 1000

_ORDERS = cast(Table, Order.__table__)


def iso(value: datetime | None) -> str | None:
    """A stored (naive UTC) time as frames write it."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Tally:
    """What one sweep did."""

    warned: int = 0
    notified: int = 0
    cancelled: int = 0
    #: Orders looked at (a step taken or not).
    looked: int = 0

    def __iadd__(self, other: Tally) -> Tally:
        self.warned += other.warned
        self.notified += other.notified
        self.cancelled += other.cancelled
        self.looked += other.looked
        return self


def own_of(row: ShopEscalation | None) -> Own:
    """A shop's own values as stored (no row: none of its own)."""
    if row is None:
        return Own()
    return Own(
        warn_seconds=row.warn_seconds,
        notify_seconds=row.notify_seconds,
        notify_repeat_seconds=row.notify_repeat_seconds,
        auto_cancel_minutes=row.auto_cancel_minutes,
    )


#: What the sweep reads of a due order (not the whole row: a pass may take thousands).
_DUE = (
    select(
        _ORDERS.c.id,
        _ORDERS.c.shop_id,
        _ORDERS.c.number,
        _ORDERS.c.status,
        _ORDERS.c.pay_status,
        _ORDERS.c.amount,
        _ORDERS.c.order_time,
        _ORDERS.c.checkout_time,
        _ORDERS.c.escalation_level,
        _ORDERS.c.escalation_notified,
    )
    .where(_ORDERS.c.escalation_due_at <= bindparam("now"))
    .order_by(_ORDERS.c.escalation_due_at)
    .limit(bindparam("batch"))
    .with_for_update(skip_locked=True)
)
#: A step taken (or none due yet): the order's level, notifications and next look.
_STEP = (
    update(_ORDERS)
    .where(_ORDERS.c.id == bindparam("order_id"))
    .values(
        escalation_level=bindparam("level"),
        escalation_notified=bindparam("notified"),
        escalation_due_at=bindparam("due"),
    )
)
#: The auto-cancel; the status condition repeats what the row lock guarantees.
_CANCEL = (
    update(_ORDERS)
    .where(
        _ORDERS.c.id == bindparam("order_id"),
        _ORDERS.c.status == int(OrderStatus.TO_BE_CONFIRMED),
    )
    .values(
        status=bindparam("new_status"),
        pay_status=bindparam("new_pay_status"),
        cancel_reason=AUTO_CANCEL_REASON,
        cancel_time=bindparam("at"),
        escalation_due_at=None,
    )
)
#: An order found off the ladder (not waiting): it is looked at no more.
_OFF = update(_ORDERS).where(_ORDERS.c.id == bindparam("order_id")).values(escalation_due_at=None)


def _order_data(row: Any, waited: int) -> dict[str, object]:
    """What every event of the ladder says of its order."""
    return {
        "orderId": row.id,
        "orderNumber": row.number,
        "shopId": row.shop_id,
        "amount": str(row.amount),
        "waitedSeconds": waited,
    }


async def sweep(
    outbox: Outbox,
    defaults: Ladder,
    *,
    now: datetime | None = None,
    batch: int = BATCH,
    on_cancelled: Callable[[int], object] | None = None,
) -> Tally:
    """Take the due step of every order whose time has come (as of ``now``)."""
    at = now or utcnow()
    tally = Tally()
    # Most turns find nothing: a plain read first, so that an idle sweep
    # takes no write lock (SQLite) and locks nothing (PostgreSQL).
    async with outbox.database.sessions() as session:
        first = await session.scalar(
            select(_ORDERS.c.id).where(_ORDERS.c.escalation_due_at <= at).limit(1)
        )
    if first is None:
        return tally
    # Every round moves the due time of the orders it took past ``at`` (or
    # clears it), so they never match again; the bound only guards against
    # a mistake in that.
    for _ in range(10_000):
        async with outbox.transaction() as work:
            rows = (await work.session.execute(_DUE, {"now": at, "batch": batch})).all()
            done = Tally(looked=len(rows))
            if rows:
                ladders = await _ladders(work, {r.shop_id for r in rows}, defaults)
                await _take(work, rows, ladders, at, done)
        tally += done
        if on_cancelled is not None and done.cancelled:
            on_cancelled(done.cancelled)
        if len(rows) < batch:
            break
    return tally


async def _ladders(work: Work, shop_ids: Iterable[int], defaults: Ladder) -> dict[int, Ladder]:
    ids = list(shop_ids)
    rows = await work.session.scalars(select(ShopEscalation).where(ShopEscalation.shop_id.in_(ids)))
    own = {row.shop_id: defaults.merged(own_of(row)) for row in rows}
    return {shop_id: own.get(shop_id, defaults) for shop_id in ids}


#: What expiring does to a waiting order (cancelled, and refunded when paid).
def _expired(status: int, pay_status: int) -> OrderState:
    return apply(OrderState(OrderStatus(status), PayStatus(pay_status)), Action.EXPIRE).state


async def _take(
    work: Work,
    rows: Sequence[Row[*tuple[Any, ...]]],
    ladders: dict[int, Ladder],
    at: datetime,
    tally: Tally,
) -> None:
    steps: list[dict[str, Any]] = []
    cancels: list[dict[str, Any]] = []
    off: list[dict[str, Any]] = []
    for row in rows:
        if row.status != OrderStatus.TO_BE_CONFIRMED:
            # Off the ladder already (every move out of status 2 clears the
            # due time; this heals a row some other path left behind).
            off.append({"order_id": row.id})
            continue
        ladder = ladders[row.shop_id]
        paid_at = row.checkout_time or row.order_time
        decision = decide(
            ladder,
            paid_at=paid_at,
            now=at,
            level=row.escalation_level,
            notified=row.escalation_notified,
        )
        waited = max(0, int((at - paid_at).total_seconds()))
        if decision.step is Step.CANCEL:
            state = _expired(row.status, row.pay_status)
            cancels.append(
                {
                    "order_id": row.id,
                    "new_status": int(state.status),
                    "new_pay_status": int(state.pay_status),
                    "at": at,
                }
            )
            work.emit(
                EventType.ORDER_AUTO_CANCELLED,
                row.shop_id,
                **_order_data(row, waited),
                reason=AUTO_CANCEL_REASON,
            )
            continue
        steps.append(
            {
                "order_id": row.id,
                "level": decision.level,
                "notified": decision.notified,
                "due": _after(decision, at),
            }
        )
        if decision.step is None:
            continue
        work.notices.append(
            (
                row.shop_id,
                control(
                    "escalation",
                    shopId=row.shop_id,
                    orderId=row.id,
                    orderNumber=row.number,
                    level=decision.level,
                    waitedSeconds=waited,
                    autoCancelAt=iso(ladder.auto_cancel_at(paid_at)),
                ),
            )
        )
        if decision.step is Step.WARN:
            tally.warned += 1
            continue
        tally.notified += 1
        work.emit(
            EventType.ORDER_UNACCEPTED,
            row.shop_id,
            **_order_data(row, waited),
            level=decision.level,
            notifyCount=decision.notified,
        )
    session = work.session
    # One statement per kind of write for the whole batch (executemany).
    if steps:
        await session.execute(_STEP, steps)
    if off:
        await session.execute(_OFF, off)
    if cancels:
        await session.execute(_CANCEL, cancels)
        await work.handle_alerts_of_orders(
            [c["order_id"] for c in cancels],
            action=Action.EXPIRE.value,
            types=[AlertType(t) for t in settles(Action.EXPIRE)],
        )
        tally.cancelled += len(cancels)


def _after(decision: Decision, at: datetime) -> datetime | None:
    # Always after ``at``, so that this sweep never takes the order twice.
    due = decision.next_due
    return due if due is None or due > at else at + timedelta(milliseconds=1)


# -- a shop's own ladder ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShopLadder:
    """A shop's ladder: what applies, and which values are the shop's own."""

    effective: Ladder
    own: Own
    defaults: Ladder

    def public(self) -> dict[str, Any]:
        """As ``GET /admin/shop/escalation`` gives it."""
        own = self.own.public()
        return {
            **self.effective.public(),
            "own": [name for name, value in own.items() if value is not None],
            "defaults": self.defaults.public(),
        }


#: The API's names of a shop's own values, and their columns.
COLUMNS = {
    "warnSeconds": "warn_seconds",
    "notifySeconds": "notify_seconds",
    "notifyRepeatSeconds": "notify_repeat_seconds",
    "autoCancelMinutes": "auto_cancel_minutes",
}


async def ladder_of(db: Database, shop_id: int, defaults: Ladder) -> ShopLadder:
    """The shop's ladder now."""
    async with db.sessions() as session:
        own = own_of(await session.get(ShopEscalation, shop_id))
    return ShopLadder(defaults.merged(own), own, defaults)


async def change_ladder(
    outbox: Outbox, shop_id: int, changes: dict[str, int | None], defaults: Ladder
) -> ShopLadder:
    """Set (a number) or reset to the default (None) some of a shop's own values,
    named as the API names them; the others stay. The shop's waiting orders are
    looked at again by the next sweep, under the new ladder.

    Raises:
        NotFound: no such shop.
        BusinessError: the values are out of bounds or the steps out of order
            (``data`` lists every problem); nothing is changed.
    """
    async with outbox.transaction() as work:
        session = work.session
        # The shop's row serializes changes of its ladder (the first one
        # inserts the ladder's row).
        shop = await session.scalar(select(Shop.id).where(Shop.id == shop_id).with_for_update())
        if shop is None:
            raise NotFound(f"Shop {shop_id} not found.")
        row = await session.get(ShopEscalation, shop_id)
        values = {column: getattr(row, column) if row else None for column in COLUMNS.values()}
        values.update({COLUMNS[name]: value for name, value in changes.items()})
        own = Own(**values)
        ladder = defaults.merged(own)
        found = problems(own, ladder)
        if found:
            raise BusinessError(
                "The escalation settings are not consistent: "
                + "; ".join(f"{name} {words}" for name, words in found)
                + ".",
                data={"errors": [{"field": name, "error": words} for name, words in found]},
            )
        if all(value is None for value in values.values()):
            await session.execute(delete(ShopEscalation).where(ShopEscalation.shop_id == shop_id))
        elif row is None:
            session.add(ShopEscalation(shop_id=shop_id, updated_at=utcnow(), **values))
        else:
            for column, value in values.items():
                setattr(row, column, value)
            row.updated_at = utcnow()
        # Due at once: the next sweep recomputes each waiting order's step
        # and next time under the new ladder (a step already taken stays taken).
        await session.execute(
            update(_ORDERS)
            .where(
                _ORDERS.c.shop_id == shop_id,
                _ORDERS.c.status == int(OrderStatus.TO_BE_CONFIRMED),
            )
            .values(escalation_due_at=utcnow())
        )
    return ShopLadder(ladder, own, defaults)


# -- the sweep in the background ---------------------------------------------------


class Escalation:
    """Runs the ladder's sweep in the background of one server process.

    Safe to run in every process at once (see the module docstring).

    Args:
        outbox: where orders are changed (frames and events after commit).
        defaults: the deployment's ladder, for shops without their own values.
        interval: seconds between two sweeps.
        batch: orders taken in one transaction at most.
    """

    def __init__(
        self, outbox: Outbox, defaults: Ladder, *, interval: float, batch: int = BATCH
    ) -> None:
        self._outbox = outbox
        self.defaults = defaults
        self._interval = interval
        self._batch = batch
        self._chores = Chores("escalation ladder")
        self.warned = 0
        self.notified = 0
        self.cancelled = 0
        #: Called with the number of orders each committed batch auto-cancelled (metrics).
        self.on_auto_cancelled: Callable[[int], object] | None = None

    async def sweep(self, now: datetime | None = None) -> Tally:
        """One sweep now; returns what it did."""
        tally = await sweep(
            self._outbox,
            self.defaults,
            now=now,
            batch=self._batch,
            on_cancelled=self._cancelled,
        )
        self.warned += tally.warned
        self.notified += tally.notified
        if tally.warned or tally.notified or tally.cancelled:
            log.info(
                "escalation: %d orders warned, %d notified, %d cancelled (not accepted in time)",
                tally.warned,
                tally.notified,
                tally.cancelled,
            )
        return tally

    def _cancelled(self, count: int) -> None:
        self.cancelled += count
        if self.on_auto_cancelled is not None:
            self.on_auto_cancelled(count)

    def start(self) -> None:
        """Sweep every ``interval`` seconds until ``stop``; the first sweep comes within
        one interval of start, so steps that fell due while the server was down are
        taken at once."""
        self._chores.every(self._interval, self.sweep, spread=True)

    async def stop(self) -> None:
        """Stop sweeping (a sweep in progress is rolled back and redone by the next)."""
        await self._chores.stop()
