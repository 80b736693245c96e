"""Shops, their staff, customers, and logging in."""

from __future__ import annotations

from decimal import Decimal
from typing import TypeVar

from anyio import to_thread
from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError

from orderbell.domain.errors import Conflict, NotFound, Unauthorized
from orderbell.security import hash_password, verify_password
from orderbell.services.login_throttle import LoginThrottle
from orderbell.storage.database import Database
from orderbell.storage.tables import Customer, Merchant, Shop

_Account = TypeVar("_Account", Customer, Merchant)
_BAD_LOGIN = "Wrong login name or password."


async def create_shop(
    db: Database,
    name: str,
    *,
    pack_fee: Decimal = Decimal("1.00"),
    delivery_fee: Decimal = Decimal("6.00"),
) -> Shop:
    """Open a new shop."""
    async with db.transaction() as session:
        shop = Shop(name=name, pack_fee=pack_fee, delivery_fee=delivery_fee, alert_seq=0)
        session.add(shop)
        await session.flush()
        return shop


async def create_merchant(
    db: Database, *, shop_id: int, username: str, password: str, name: str
) -> Merchant:
    """Give a shop's staff member a login.

    Raises:
        NotFound: no such shop.
        Conflict: the username is taken.
    """
    password_hash = await to_thread.run_sync(hash_password, password)
    try:
        async with db.transaction() as session:
            if await session.get(Shop, shop_id) is None:
                raise NotFound(f"Shop {shop_id} not found.")
            merchant = Merchant(
                shop_id=shop_id, username=username, name=name, password_hash=password_hash
            )
            session.add(merchant)
            await session.flush()
            return merchant
    except IntegrityError as exc:
        raise Conflict(f"The username {username!r} is taken.") from exc


async def register_customer(db: Database, *, phone: str, password: str, name: str) -> Customer:
    """Sign up a customer.

    Raises:
        Conflict: the phone number is already registered.
    """
    password_hash = await to_thread.run_sync(hash_password, password)
    try:
        async with db.transaction() as session:
            customer = Customer(phone=phone, name=name, password_hash=password_hash)
            session.add(customer)
            await session.flush()
            return customer
    except IntegrityError as exc:
        raise Conflict("This phone number is already registered.") from exc


async def login_customer(
    db: Database,
    *,
    phone: str,
    password: str,
    throttle: LoginThrottle | None = None,
    address: str | None = None,
) -> Customer:
    """The customer whose phone and password these are.

    With a ``throttle``, the attempt is counted against the phone number and
    the client ``address`` first, and refused once either had too many
    failures.

    Raises:
        Unauthorized: unknown phone or wrong password (not told apart).
        TooManyRequests: too many failed logins; wait and try again.
    """
    return await _login(
        db,
        select(Customer).where(Customer.phone == phone),
        password,
        throttle,
        f"customer:{phone}",
        address,
    )


async def login_merchant(
    db: Database,
    *,
    username: str,
    password: str,
    throttle: LoginThrottle | None = None,
    address: str | None = None,
) -> Merchant:
    """The staff member whose username and password these are.

    With a ``throttle``, the attempt is counted against the username and the
    client ``address`` first, and refused once either had too many failures.

    Raises:
        Unauthorized: unknown username or wrong password (not told apart).
        TooManyRequests: too many failed logins; wait and try again.
    """
    return await _login(
        db,
        select(Merchant).where(Merchant.username == username),
        password,
        throttle,
        f"merchant:{username}",
        address,
    )


async def _login(
    db: Database,
    query: Select[_Account],
    password: str,
    throttle: LoginThrottle | None,
    account: str,
    address: str | None,
) -> _Account:
    attempt = await throttle.begin(account=account, address=address) if throttle else None
    async with db.sessions() as session:
        found = await session.scalar(query)
    # Verified even for an unknown account, so that the time taken tells nothing.
    stored = found.password_hash if found is not None else None
    matches = await to_thread.run_sync(verify_password, stored, password)
    if found is None or not matches:
        raise Unauthorized(_BAD_LOGIN)
    if throttle and attempt:
        await throttle.succeeded(attempt)
    return found
