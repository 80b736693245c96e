"""The publish API's use cases: shop API keys, and alerts raised by another order system.

A platform that keeps its own orders (a Sky Take-Out backend, say) raises
alerts here instead of sending them to its own sockets; they go into the
same alert log and are delivered with the same guarantees.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from orderbell.domain.alerts import Alert, AlertType, alert_content
from orderbell.domain.errors import Forbidden, NotFound, Unauthorized
from orderbell.services.outbox import Outbox
from orderbell.storage import alert_log
from orderbell.storage.database import Database
from orderbell.storage.tables import AlertRow, ApiKey, IdempotencyKey, Shop, utcnow

KEY_PREFIX = "obk_"


def _digest(key: str) -> str:
    # API keys are long random strings, so a plain SHA-256 is enough to keep
    # them safe at rest, and cheap on every publish (unlike a password hash).
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new API key: shown once, then only its prefix is known."""

    id: int
    shop_id: int
    name: str
    prefix: str
    key: str


async def create_api_key(db: Database, shop_id: int, name: str) -> IssuedKey:
    """Make a new API key for ``shop_id``.

    Raises:
        NotFound: no such shop.
    """
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    async with db.transaction() as session:
        if await session.get(Shop, shop_id) is None:
            raise NotFound(f"Shop {shop_id} not found.")
        row = ApiKey(shop_id=shop_id, name=name, prefix=key[:12], key_hash=_digest(key))
        session.add(row)
        await session.flush()
        return IssuedKey(row.id, shop_id, name, row.prefix, key)


async def revoke_api_key(db: Database, shop_id: int, prefix: str) -> int:
    """Revoke the shop's keys that start with ``prefix``; return how many."""
    async with db.transaction() as session:
        # Conditional, so that of two revocations at once each key is counted
        # (and stamped) by one of them only.
        revoked = await session.scalars(
            update(ApiKey)
            .where(
                ApiKey.shop_id == shop_id,
                ApiKey.prefix == prefix[:12],
                ApiKey.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
            .returning(ApiKey.id)
            .execution_options(synchronize_session=False)
        )
        return len(revoked.all())


async def authorize(db: Database, key: str | None, shop_id: int) -> None:
    """Check that ``key`` is a live API key of ``shop_id``.

    Raises:
        Unauthorized: no key, or not a key orderbell issued (or revoked).
        Forbidden: a valid key of another shop.
    """
    if not key:
        raise Unauthorized("An API key is required (header X-Api-Key or Authorization: Bearer).")
    async with db.sessions() as session:
        row = await session.scalar(
            select(ApiKey).where(ApiKey.key_hash == _digest(key), ApiKey.revoked_at.is_(None))
        )
    if row is None:
        raise Unauthorized("Unknown or revoked API key.")
    if row.shop_id != shop_id:
        raise Forbidden("This API key belongs to another shop.")


async def publish_external(
    outbox: Outbox,
    shop_id: int,
    *,
    type: AlertType,
    order_number: str,
    external_order_id: int | None,
    text: str | None,
    idempotency_key: str | None,
) -> tuple[Alert, bool]:
    """Raise an alert for an order of another system; return it and whether it is new.

    With ``idempotency_key``, a retried call returns the alert the first call
    made instead of raising a second one.

    Raises:
        NotFound: no such shop.
    """
    content = alert_content(order_number) + (f"，{text}" if text else "")
    for _ in range(2):
        if idempotency_key:
            earlier = await _earlier(outbox.database, shop_id, idempotency_key)
            if earlier is not None:
                return earlier, False
        try:
            async with outbox.transaction() as work:
                if await work.session.get(Shop, shop_id) is None:
                    raise NotFound(f"Shop {shop_id} not found.")
                alert = await work.raise_alert(
                    shop_id=shop_id,
                    type=type,
                    order_id=None,
                    order_number=order_number,
                    content=content,
                    external_order_id=external_order_id,
                    source="api",
                )
                if idempotency_key:
                    work.session.add(
                        IdempotencyKey(shop_id=shop_id, key=idempotency_key, alert_seq=alert.seq)
                    )
                    await work.session.flush()
            return alert, True
        except IntegrityError:
            # A concurrent call with the same key won; its alert is the answer.
            continue
    earlier = await _earlier(outbox.database, shop_id, idempotency_key or "")
    if earlier is None:  # pragma: no cover - the unique key guarantees a winner
        raise RuntimeError("idempotent publish found neither its own nor a winner's alert")
    return earlier, False


async def _earlier(db: Database, shop_id: int, key: str) -> Alert | None:
    async with db.sessions() as session:
        seq = await session.scalar(
            select(IdempotencyKey.alert_seq).where(
                IdempotencyKey.shop_id == shop_id, IdempotencyKey.key == key
            )
        )
        if seq is None:
            return None
        row = await session.scalar(
            select(AlertRow).where(AlertRow.shop_id == shop_id, AlertRow.seq == seq)
        )
        return alert_log.to_alert(row) if row is not None else None
