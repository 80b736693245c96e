"""A shop's status as stored: reading it, changing it, its history, and the check at submit.

Every change locks the shop's row (``FOR UPDATE``) and then moves it with a
conditional UPDATE whose WHERE clause is the state the move starts from, so
that of several processes deciding the same move at once one changes the
row and records one history row, and the others change nothing. Submitting
an order holds the shop's row with ``FOR KEY SHARE`` (``lock_for_order``):
submits of one shop do not wait for each other, but a close waits for the
submits in flight and a submit that comes after a close reads it, so no
order is made after a close committed. After commit every console of the
shop gets a ``shopStatus`` control frame (protocol 2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderbell.domain import shop_status as rules
from orderbell.domain.errors import BusinessError, NotFound
from orderbell.domain.events import EventType
from orderbell.domain.shop_status import Actor, Change, ShopStatus
from orderbell.protocol import control
from orderbell.services.outbox import Outbox, Work
from orderbell.storage.database import Database
from orderbell.storage.tables import Merchant, Shop, ShopStatusChange, utcnow

_SHOPS = cast(Table, Shop.__table__)


def iso(value: datetime) -> str:
    """A stored (naive UTC) time as frames and the status endpoints write it."""
    return value.replace(tzinfo=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class ShopState:
    """Where a shop stands: its status, why, and since when (naive UTC)."""

    shop_id: int
    status: ShopStatus
    reason: str | None
    since: datetime

    @property
    def takes_orders(self) -> bool:
        """Whether customers may submit orders now."""
        return rules.takes_orders(self.status)

    @property
    def code(self) -> int:
        """The original API's integer: 1 taking orders, 0 not."""
        return rules.original_code(self.status)

    def public(self) -> dict[str, Any]:
        """The details as ``GET /admin/shop/status/detail`` and the shop list give them."""
        return {
            "shopId": self.shop_id,
            "status": self.status.value,
            "takingOrders": self.takes_orders,
            "reason": self.reason,
            "since": iso(self.since),
        }

    def frame(self) -> bytes:
        """The ``shopStatus`` control frame that tells consoles of the change."""
        return control(
            "shopStatus",
            shopId=self.shop_id,
            status=self.status.value,
            takingOrders=self.takes_orders,
            reason=self.reason,
            since=iso(self.since),
        )


def state_of(shop: Shop) -> ShopState:
    """The state of a loaded shop row."""
    return ShopState(
        shop.id,
        ShopStatus(shop.status),
        shop.status_reason,
        shop.status_since or shop.created_at,
    )


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One recorded change, with the merchant's name when a merchant made it."""

    id: int
    shop_id: int
    before: ShopStatus
    after: ShopStatus
    reason: str
    actor: Actor
    merchant_id: int | None
    merchant_name: str | None
    at: datetime

    def public(self) -> dict[str, Any]:
        """As ``GET /admin/shop/status/history`` lists it."""
        return {
            "id": self.id,
            "shopId": self.shop_id,
            "from": self.before.value,
            "to": self.after.value,
            "reason": self.reason,
            "by": {"kind": self.actor.value, "id": self.merchant_id, "name": self.merchant_name},
            "at": iso(self.at),
        }


async def current(db: Database, shop_id: int) -> ShopState:
    """The shop's state now.

    Raises:
        NotFound: no such shop.
    """
    async with db.sessions() as session:
        shop = await session.get(Shop, shop_id)
        if shop is None:
            raise NotFound(f"Shop {shop_id} not found.")
        return state_of(shop)


async def history(db: Database, shop_id: int, *, limit: int = 100) -> list[HistoryEntry]:
    """The shop's latest ``limit`` changes of status, newest first."""
    async with db.sessions() as session:
        rows = await session.execute(
            select(ShopStatusChange, Merchant.name)
            .outerjoin(Merchant, Merchant.id == ShopStatusChange.merchant_id)
            .where(ShopStatusChange.shop_id == shop_id)
            .order_by(ShopStatusChange.created_at.desc(), ShopStatusChange.id.desc())
            .limit(limit)
        )
        return [
            HistoryEntry(
                id=change.id,
                shop_id=change.shop_id,
                before=ShopStatus(change.from_status),
                after=ShopStatus(change.to_status),
                reason=change.reason,
                actor=Actor(change.actor),
                merchant_id=change.merchant_id,
                merchant_name=name,
                at=change.created_at,
            )
            for change, name in rows
        ]


async def _move(
    work: Work,
    shop_id: int,
    decide: Callable[[ShopStatus], Change],
    *,
    reason: str,
    actor: Actor,
    merchant_id: int | None = None,
) -> tuple[ShopState, bool]:
    session = work.session
    shop = await session.scalar(select(Shop).where(Shop.id == shop_id).with_for_update())
    if shop is None:
        raise NotFound(f"Shop {shop_id} not found.")
    change = decide(ShopStatus(shop.status))
    if not change.changed:
        return state_of(shop), False
    now = utcnow()
    moved = (
        await session.execute(
            update(_SHOPS)
            .where(_SHOPS.c.id == shop_id, _SHOPS.c.status == change.before.value)
            .values(status=change.after.value, status_reason=reason, status_since=now)
            .returning(_SHOPS.c.id)
        )
    ).first()
    if moved is None:  # pragma: no cover - the row lock above keeps the state read
        return state_of(shop), False
    session.add(
        ShopStatusChange(
            shop_id=shop_id,
            from_status=change.before.value,
            to_status=change.after.value,
            reason=reason,
            actor=actor.value,
            merchant_id=merchant_id,
            created_at=now,
        )
    )
    state = ShopState(shop_id, change.after, reason, now)
    work.notices.append((shop_id, state.frame()))
    work.emit(
        EventType.SHOP_STATUS_CHANGED,
        shop_id,
        shopId=shop_id,
        **{"from": change.before.value},
        to=change.after.value,
        takingOrders=state.takes_orders,
        reason=reason,
        by=actor.value,
        since=iso(now),
    )
    return state, True


async def set_by_merchant(
    outbox: Outbox, shop_id: int, wanted: ShopStatus, *, merchant_id: int
) -> ShopState:
    """A merchant opens or closes their shop (from any state, a pause included).

    Asking for the state the shop is already in changes nothing and records nothing.

    Raises:
        NotFound: no such shop.
        ValueError: ``wanted`` is ``paused`` (only the system pauses).
    """
    async with outbox.transaction() as work:
        state, _ = await _move(
            work,
            shop_id,
            lambda now: rules.set_by_merchant(now, wanted),
            reason=rules.BY_HAND,
            actor=Actor.MERCHANT,
            merchant_id=merchant_id,
        )
        return state


async def pause(outbox: Outbox, shop_id: int, reason: str) -> bool:
    """Pause an open shop (the system's move, e.g. reason ``no_console_online``).

    Returns whether it changed anything: False when the shop is not open
    (closed by hand, or already paused, perhaps by another process just now).

    Raises:
        NotFound: no such shop.
    """
    async with outbox.transaction() as work:
        _, changed = await _move(work, shop_id, rules.pause, reason=reason, actor=Actor.SYSTEM)
        return changed


async def resume(outbox: Outbox, shop_id: int, reason: str) -> bool:
    """Open a paused shop again (the system's move). A shop closed by hand stays closed.

    Returns whether it changed anything.

    Raises:
        NotFound: no such shop.
    """
    async with outbox.transaction() as work:
        _, changed = await _move(work, shop_id, rules.resume, reason=reason, actor=Actor.SYSTEM)
        return changed


async def lock_for_order(session: AsyncSession, shop_id: int) -> Shop:
    """The shop an order is being submitted to, held (``FOR KEY SHARE``) until the
    transaction ends, once it is known to take orders.

    Raises:
        NotFound: no such shop.
        BusinessError: the shop is closed or paused; ``data`` has its state.
    """
    shop = await session.scalar(
        select(Shop).where(Shop.id == shop_id).with_for_update(read=True, key_share=True)
    )
    if shop is None:
        raise NotFound("Shop not found.")
    state = state_of(shop)
    message = rules.refusal(state.status)
    if message is not None:
        raise BusinessError(message, data=state.public())
    return shop
