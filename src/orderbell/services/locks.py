"""The row locks that make a request's read-then-write safe across processes.

A request that reads rows and writes based on what it read (is the cart
empty? which shop is it of? is this reminder still open?) first locks the
row that owns them, so that a second request doing the same waits and then
reads what the first committed (PostgreSQL's READ COMMITTED gives every
statement a fresh snapshot). The customer row owns the cart and the address
book; the order row owns its alerts. SQLite needs no row lock: its
transactions are serialized (``BEGIN IMMEDIATE``), and the clause is left out.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from orderbell.domain.errors import NotFound
from orderbell.storage.tables import Customer, Order


async def lock_customer(session: AsyncSession, customer_id: int) -> None:
    """Hold the customer's row until the transaction ends: their cart and
    addresses change one request at a time.

    ``FOR NO KEY UPDATE``, not ``FOR UPDATE``: rows that merely refer to the
    customer (a new order, a new address) can still be written meanwhile.

    Raises:
        NotFound: no such customer.
    """
    found = await session.scalar(
        select(Customer.id).where(Customer.id == customer_id).with_for_update(key_share=True)
    )
    if found is None:
        raise NotFound("Customer not found.")


async def lock_order(session: AsyncSession, *conditions: ColumnElement[bool]) -> Order | None:
    """The order matching ``conditions``, held until the transaction ends: its
    moves and the handling of its alerts happen one at a time."""
    order: Order | None = await session.scalar(select(Order).where(*conditions).with_for_update())
    return order
