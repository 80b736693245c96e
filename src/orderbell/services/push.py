"""Web Push for alerts nobody is looking at: keys, subscriptions, the sweep, the sender.

A console page that may show notifications subscribes with the browser's
Push API and hands its ``PushSubscription`` to the server
(``POST /admin/push/subscriptions``), which keeps it with the merchant, the
shop and the device. The deployment has one VAPID key pair (RFC 8292),
made the first time any process starts (or ``orderbell push keys`` runs)
and kept in the database, so every process and every restart signs with the
same key and the browsers' subscriptions stay valid.

Pushes are outgoing rows of kind ``push``, carried out by the one
dispatcher (``services.dispatcher``) like webhooks:

- The sweep (``Push.sweep``, every ``push_check_seconds`` in every process)
  takes the alerts (new orders and reminders) that no visible console has
  shown (``alert.first_shown_at``, from the consoles' ``ack`` frames) within
  ``push_after_seconds`` and that are not handled, and writes, in one
  transaction, a row per subscription of the alert's shop and the alert's
  ``pushed_at``; so each alert is pushed once per subscription, whatever the
  number of processes (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, serialized
  writers on SQLite).
- When an order is accepted (or cancelled by the ladder), a small
  ``handled`` message goes to the subscriptions that were sent one of its
  alerts, and the service worker closes the notification
  (``record_handled``, written with the order's change).
- ``PushSender`` sends a row with ``pywebpush`` (aes128gcm, the VAPID
  header, ``TTL`` and ``Urgency: high``). A 404 or 410 answer means the
  subscription is gone: it is removed and its queued rows given up. Other
  failures are retried by the dispatcher's retry policy until the push is
  older than its TTL.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

import orjson
from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from orderbell.domain import push as messages
from orderbell.domain.alerts import AlertType
from orderbell.domain.errors import BusinessError, NotFound
from orderbell.domain.events import Event, EventType
from orderbell.services.chores import Chores
from orderbell.services.dispatcher import Result
from orderbell.services.outbox import Work
from orderbell.services.webhooks import Refused, checked_addresses, iso, parse_url
from orderbell.storage import outgoing
from orderbell.storage.database import Database
from orderbell.storage.outgoing import QUEUED, Claimed, Settlement
from orderbell.storage.tables import AlertRow, Outgoing, PushKey, PushSubscription, utcnow

log = logging.getLogger(__name__)

#: The kind of a push in the outgoing table.
PUSH = "push"
#: Subscriptions one shop may have at most (a device subscribes once per browser).
MAX_PER_SHOP = 100
#: Alerts one turn of the sweep takes at most per transaction.
BATCH = 200
#: The events after which an order's notification is closed on every device.
CLOSING_EVENTS = (EventType.ORDER_ACCEPTED, EventType.ORDER_AUTO_CANCELLED)

_OUT = cast(Table, Outgoing.__table__)
_ALERTS = cast(Table, AlertRow.__table__)
_SUBS = cast(Table, PushSubscription.__table__)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- the VAPID key pair ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class VapidKeys:
    """The deployment's key pair: the private key's PEM and the public key for browsers."""

    private_pem: str
    public_key: str


def new_keys() -> VapidKeys:
    """A fresh P-256 key pair."""
    from cryptography.hazmat.primitives import serialization
    from py_vapid import Vapid

    vapid = Vapid()
    vapid.generate_keys()
    raw = vapid.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return VapidKeys(vapid.private_pem().decode("ascii"), _b64url(raw))


async def ensure_keys(database: Database) -> VapidKeys:
    """The deployment's keys, made and stored the first time (by whichever process
    comes first: the row has one fixed id, and a second insert does nothing)."""
    async with database.sessions() as session:
        row = await session.get(PushKey, 1)
        if row is not None:
            return VapidKeys(row.private_pem, row.public_key)
    fresh = new_keys()
    values = {
        "id": 1,
        "private_pem": fresh.private_pem,
        "public_key": fresh.public_key,
        "created_at": utcnow(),
    }
    from sqlalchemy.dialects import postgresql, sqlite

    statement = (
        sqlite.insert(PushKey).values(**values).on_conflict_do_nothing(index_elements=["id"])
        if database.is_sqlite
        else postgresql.insert(PushKey)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["id"])
    )
    async with database.transaction() as session:
        await session.execute(statement)
    async with database.sessions() as session:
        row = await session.get(PushKey, 1)
        assert row is not None
        if row.public_key == fresh.public_key:
            log.info("made the deployment's Web Push (VAPID) key pair")
        return VapidKeys(row.private_pem, row.public_key)


# --- subscriptions --------------------------------------------------------


def check_endpoint(endpoint: str, *, allow_private: bool) -> None:
    """Refuse an endpoint that is not an https:// URL (or http:// where private ones are allowed).

    Raises:
        Refused: not such a URL.
    """
    target = parse_url(endpoint)
    if target.scheme != "https" and not allow_private:
        raise Refused("A push endpoint must be an https:// URL.")


def check_key(value: str, name: str, size: int) -> str:
    """``value`` if it is base64url of ``size`` bytes (``p256dh``: 65, an uncompressed point).

    Raises:
        ValueError: it is not.
    """
    try:
        raw = _unb64url(value)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{name} must be base64url") from exc
    if len(raw) != size or (size == 65 and raw[0] != 4):
        raise ValueError(f"{name} must be {size} bytes in base64url")
    return value


def subscription_public(sub: PushSubscription) -> dict[str, Any]:
    """A subscription as the API shows it (never its keys)."""
    return {
        "id": sub.id,
        "deviceId": sub.device_id,
        "merchantId": sub.merchant_id,
        "pushService": urlsplit(sub.endpoint).hostname,
        "createdAt": iso(sub.created_at),
        "lastSuccessAt": iso(sub.last_success_at),
    }


async def subscribe(
    database: Database,
    *,
    merchant_id: int,
    shop_id: int,
    device_id: str,
    endpoint: str,
    p256dh: str,
    auth: str,
    allow_private: bool,
    resolve_timeout: float = 5.0,
) -> PushSubscription:
    """Keep a browser's subscription for a device of a shop; the same endpoint again
    (the browser subscribed anew, or another merchant logged in) replaces the old one.

    Raises:
        Refused: the endpoint is not one the server may call.
        BusinessError: the shop has too many subscriptions.
    """
    check_endpoint(endpoint, allow_private=allow_private)
    await checked_addresses(
        parse_url(endpoint), allow_private=allow_private, within=resolve_timeout
    )
    values = {
        "merchant_id": merchant_id,
        "shop_id": shop_id,
        "device_id": device_id,
        "p256dh": p256dh,
        "auth": auth,
    }
    for attempt in range(2):
        try:
            async with database.transaction() as session:
                sub = await session.scalar(
                    select(PushSubscription)
                    .where(PushSubscription.endpoint == endpoint)
                    .with_for_update()
                )
                if sub is None:
                    count = len(
                        (
                            await session.scalars(
                                select(PushSubscription.id).where(
                                    PushSubscription.shop_id == shop_id
                                )
                            )
                        ).all()
                    )
                    if count >= MAX_PER_SHOP:
                        raise BusinessError(
                            f"A shop may have at most {MAX_PER_SHOP} push subscriptions; "
                            "remove one first."
                        )
                    sub = PushSubscription(endpoint=endpoint, created_at=utcnow(), **values)
                    session.add(sub)
                else:
                    for name, value in values.items():
                        setattr(sub, name, value)
                await session.flush()
                return sub
        except IntegrityError:
            # The same browser subscribed twice at once: the second takes the row.
            if attempt:
                raise
    raise AssertionError("unreachable")


async def subscriptions(database: Database, shop_id: int) -> list[PushSubscription]:
    """A shop's subscriptions, oldest first."""
    async with database.sessions() as session:
        return list(
            await session.scalars(
                select(PushSubscription)
                .where(PushSubscription.shop_id == shop_id)
                .order_by(PushSubscription.id)
            )
        )


async def unsubscribe(database: Database, shop_id: int, subscription_id: int) -> None:
    """Remove a subscription of the shop; its pushes not yet sent are given up.

    Raises:
        NotFound: no such subscription (of this shop).
    """
    async with database.transaction() as session:
        removed = (
            await session.execute(
                delete(_SUBS)
                .where(_SUBS.c.id == subscription_id, _SUBS.c.shop_id == shop_id)
                .returning(_SUBS.c.id)
            )
        ).first()
        if removed is None:
            raise NotFound(f"Push subscription {subscription_id} not found.")
        await outgoing.fail_queued(session, PUSH, subscription_id, "subscription removed")


# --- writing pushes -------------------------------------------------------


def _row(
    sub_id: int, shop_id: int, message_id: str, event: str, body: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "kind": PUSH,
        "target_id": sub_id,
        "shop_id": shop_id,
        "message_id": message_id,
        "event_type": event,
        "payload": orjson.dumps(body).decode(),
        "state": QUEUED,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def alert_message_id(shop_id: int, seq: int) -> str:
    """The message id of an alert's pushes (the same for every subscription and attempt)."""
    return f"push-{shop_id}-{seq}"


async def _subscribers(session: AsyncSession, shops: set[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    if not shops:
        return found
    for sub_id, shop_id in await session.execute(
        select(_SUBS.c.id, _SUBS.c.shop_id).where(_SUBS.c.shop_id.in_(shops))
    ):
        found.setdefault(shop_id, []).append(sub_id)
    return found


async def sweep(
    database: Database,
    *,
    after: timedelta,
    stale_after: timedelta,
    now: datetime | None = None,
    batch: int = BATCH,
) -> int:
    """Push the alerts no visible console has shown within ``after``; returns the rows written.

    Each alert taken is marked (``pushed_at``) in the transaction that writes
    its rows, so it is taken once; an alert older than ``stale_after`` (the
    sweep did not run for a while) is marked without a push.
    """
    now = now or utcnow()
    unseen = (
        _ALERTS.c.pushed_at.is_(None),
        _ALERTS.c.first_shown_at.is_(None),
        _ALERTS.c.handled_at.is_(None),
        _ALERTS.c.created_at <= now - after,
    )
    # Mostly there is nothing to do: a read (the partial index of alerts not
    # yet dealt with) rather than a write transaction every turn.
    async with database.sessions() as session:
        if await session.scalar(select(_ALERTS.c.id).where(*unseen).limit(1)) is None:
            return 0
    total = 0
    # Every round marks the alerts it took, so they never match again; the
    # bound only guards against a mistake in that.
    for _ in range(1_000):
        async with database.transaction() as session:
            due = (
                await session.execute(
                    select(
                        _ALERTS.c.id,
                        _ALERTS.c.shop_id,
                        _ALERTS.c.seq,
                        _ALERTS.c.type,
                        _ALERTS.c.order_id,
                        _ALERTS.c.order_number,
                        _ALERTS.c.content,
                        _ALERTS.c.created_at,
                    )
                    .where(*unseen)
                    .order_by(_ALERTS.c.created_at)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not due:
                break
            live = [a for a in due if a.created_at >= now - stale_after]
            subs = await _subscribers(session, {a.shop_id for a in live})
            rows: list[dict[str, Any]] = []
            for a in live:
                if a.type not in (AlertType.NEW_ORDER, AlertType.REMINDER):
                    continue
                body = messages.alert_message(
                    shop_id=a.shop_id,
                    seq=a.seq,
                    type=a.type,
                    order_id=a.order_id,
                    order_number=a.order_number,
                    content=a.content,
                )
                message_id = alert_message_id(a.shop_id, a.seq)
                for sub_id in subs.get(a.shop_id, ()):
                    rows.append(
                        _row(sub_id, a.shop_id, message_id, messages.ALERT_EVENT, body, now)
                    )
            if rows:
                await session.execute(insert(_OUT), rows)
            await session.execute(
                update(_ALERTS).where(_ALERTS.c.id.in_([a.id for a in due])).values(pushed_at=now)
            )
        total += len(rows)
        if len(due) < batch:
            break
    return total


async def record_handled(
    session: AsyncSession, events: Sequence[Event], *, within: timedelta
) -> int:
    """For each order accepted (or cancelled) in ``events``, write a ``handled`` push to
    the subscriptions that were sent one of its alerts within ``within``; returns how many.

    Only those: a push that shows nothing must stay rare (browsers allow a
    silent push now and then, and otherwise show a notice of their own).
    """
    total = 0
    now = utcnow()
    for event in events:
        if event.type not in CLOSING_EVENTS or event.shop_id is None:
            continue
        order_id = event.data.get("orderId")
        if not isinstance(order_id, int):
            continue
        seqs = list(
            await session.scalars(
                select(_ALERTS.c.seq).where(
                    _ALERTS.c.order_id == order_id,
                    _ALERTS.c.shop_id == event.shop_id,
                    _ALERTS.c.pushed_at.is_not(None),
                )
            )
        )
        if not seqs:
            continue
        targets = set(
            await session.scalars(
                select(_OUT.c.target_id).where(
                    _OUT.c.shop_id == event.shop_id,
                    _OUT.c.created_at >= now - within,
                    _OUT.c.kind == PUSH,
                    _OUT.c.message_id.in_([alert_message_id(event.shop_id, s) for s in seqs]),
                )
            )
        )
        if not targets:
            continue
        # Only subscriptions that still exist.
        live = list(await session.scalars(select(_SUBS.c.id).where(_SUBS.c.id.in_(targets))))
        body = messages.handled_message(
            shop_id=event.shop_id,
            order_id=order_id,
            order_number=str(event.data.get("orderNumber", "")),
        )
        message_id = f"push-{event.shop_id}-done-{order_id}"
        rows = [
            _row(sub_id, event.shop_id, message_id, messages.HANDLED_EVENT, body, now)
            for sub_id in sorted(live)
        ]
        if rows:
            await session.execute(insert(_OUT), rows)
            total += len(rows)
    return total


class Push:
    """The deployment's push keys and the sweep that runs in the background of a process.

    Args:
        database: where alerts, subscriptions and the keys are.
        after: seconds an alert may go unseen before it is pushed.
        interval: seconds between turns of the sweep.
        ttl: seconds a push service keeps a push for an offline device.
        poke: called after a turn that wrote pushes (the dispatcher's ``poke``).
    """

    def __init__(
        self,
        database: Database,
        *,
        after: float,
        interval: float,
        ttl: int,
        poke: Callable[[], None] | None = None,
    ) -> None:
        self.database = database
        self._after = timedelta(seconds=after)
        self._interval = interval
        self._ttl = timedelta(seconds=max(ttl, 60))
        self.poke = poke
        self._keys: VapidKeys | None = None
        self._chores = Chores("push sweep")
        #: Pushes written by this process's sweep.
        self.written = 0

    async def keys(self) -> VapidKeys:
        """The deployment's key pair (made and stored on first use)."""
        if self._keys is None:
            self._keys = await ensure_keys(self.database)
        return self._keys

    async def sweep(self) -> int:
        """One turn of the sweep now; returns the pushes written."""
        count = await sweep(self.database, after=self._after, stale_after=self._ttl)
        if count:
            self.written += count
            if self.poke is not None:
                self.poke()
        return count

    async def record_handled(self, session: AsyncSession, events: Sequence[Event]) -> int:
        """``record_handled`` for an order's change (see the function)."""
        return await record_handled(session, events, within=self._ttl)

    async def start(self) -> None:
        """Make sure the keys exist, then sweep in the background."""
        try:
            await self.keys()
        except Exception as exc:
            # Made on first use instead (the database may be back by then).
            log.warning("push: the VAPID keys could not be read or made yet: %r", exc)
        self._chores.every(self._interval, self.sweep)

    async def stop(self) -> None:
        """Stop the sweep (a turn in progress is rolled back and redone later)."""
        await self._chores.stop()


# --- the sender -----------------------------------------------------------

#: Answers that mean the subscription is gone for good (RFC 8030, 7.3).
GONE_STATUSES = frozenset({404, 410})
_GONE = "subscription gone"
_REMOVED = "subscription removed"


class PushSender:
    """Sends push rows with ``pywebpush``: encrypted (aes128gcm), VAPID-signed,
    ``TTL`` and ``Urgency: high``; a 2xx answer is delivered.

    Args:
        push: gives the deployment's keys.
        contact: the VAPID ``sub`` claim (mailto: or https:).
        ttl: seconds the push service keeps a push; older rows are given up.
        timeout: seconds an attempt may take.
        allow_private: whether endpoints on loopback or private addresses may be called.
    """

    kind = PUSH

    def __init__(
        self,
        push: Push,
        *,
        contact: str,
        ttl: int,
        timeout: float = 10.0,
        allow_private: bool = False,
    ) -> None:
        self._push = push
        self._contact = contact
        self._ttl = ttl
        self._timeout = timeout
        self._allow_private = allow_private
        self._session: Any = None
        self._vapid: Any = None

    async def _signer(self) -> Any:
        if self._vapid is None:
            from py_vapid import Vapid

            keys = await self._push.keys()
            self._vapid = Vapid.from_pem(keys.private_pem.encode("ascii"))
        return self._vapid

    def _http(self) -> Any:
        if self._session is None:
            import aiohttp

            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout)
            )
        return self._session

    async def send(self, row: Claimed) -> Result:
        """Push the row's message to its subscription."""
        async with self._push.database.sessions() as session:
            sub = await session.get(PushSubscription, row.target_id)
        if sub is None:
            return Result(False, error=_REMOVED, final=True)
        if (utcnow() - row.created_at).total_seconds() > max(self._ttl, 60):
            return Result(False, error="older than its TTL", final=True)
        if not self._allow_private:
            try:
                await checked_addresses(
                    parse_url(sub.endpoint), allow_private=False, within=self._timeout
                )
            except Refused as exc:
                return Result(False, error=exc.message)
        try:
            async with asyncio.timeout(self._timeout):
                return await self._send(row, sub)
        except TimeoutError:
            return Result(False, error=f"no answer within {self._timeout:g} s")

    async def _send(self, row: Claimed, sub: PushSubscription) -> Result:
        import aiohttp
        from pywebpush import WebPushException, webpush_async

        info = {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}}
        try:
            response = await webpush_async(
                info,
                data=row.payload,
                vapid_private_key=await self._signer(),
                # A fresh dict each time: pywebpush fills in aud and exp.
                vapid_claims={"sub": self._contact},
                ttl=self._ttl,
                headers={"Urgency": "high"},
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                aiohttp_session=self._http(),
            )
        except WebPushException as exc:
            status = exc.status_code
            if status in GONE_STATUSES:
                return Result(False, status=status, error=_GONE, final=True)
            retry = status is None or status == 429 or status >= 500
            return Result(False, status=status, error=f"answered {status}", final=not retry)
        except aiohttp.ClientError as exc:
            return Result(False, error=f"{type(exc).__name__}: {exc}")
        return Result(True, status=int(response.status))

    async def settled(self, work: Work, settlements: Sequence[Settlement]) -> None:
        """Note each subscription's last success; remove the ones the push service says are gone."""
        working = {s.row.target_id for s in settlements if s.delivered}
        gone = {s.row.target_id for s in settlements if s.error == _GONE}
        if working:
            await work.session.execute(
                update(_SUBS).where(_SUBS.c.id.in_(working)).values(last_success_at=utcnow())
            )
        for sub_id in sorted(gone):
            await work.session.execute(delete(_SUBS).where(_SUBS.c.id == sub_id))
            await outgoing.fail_queued(work.session, PUSH, sub_id, _GONE)
            log.info("push subscription %d removed: the push service says it is gone", sub_id)

    async def close(self) -> None:
        """Close the connections."""
        if self._session is not None:
            await self._session.close()
            self._session = None
