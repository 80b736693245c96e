"""A customer's delivery addresses.

Adding one first locks the customer's row (``services.locks``), so that
addresses added at once still leave exactly one default; a partial unique
index (one ``is_default`` row per customer) guarantees it in the database.
"""

from __future__ import annotations

from sqlalchemy import select, update

from orderbell.domain.errors import NotFound
from orderbell.services.locks import lock_customer
from orderbell.storage.database import Database
from orderbell.storage.tables import AddressBook


async def add_address(db: Database, customer_id: int, **fields: object) -> AddressBook:
    """Store an address; the first one, or one marked default, becomes the default."""
    async with db.transaction() as session:
        await lock_customer(session, customer_id)
        has_any = await session.scalar(
            select(AddressBook.id).where(AddressBook.customer_id == customer_id).limit(1)
        )
        make_default = bool(fields.pop("is_default", False)) or has_any is None
        if make_default:
            await session.execute(
                update(AddressBook)
                .where(AddressBook.customer_id == customer_id, AddressBook.is_default.is_(True))
                .values(is_default=False)
            )
        address = AddressBook(customer_id=customer_id, is_default=make_default, **fields)
        session.add(address)
        await session.flush()
        return address


async def list_addresses(db: Database, customer_id: int) -> list[AddressBook]:
    """The customer's addresses, oldest first."""
    async with db.sessions() as session:
        rows = await session.scalars(
            select(AddressBook)
            .where(AddressBook.customer_id == customer_id)
            .order_by(AddressBook.id)
        )
        return list(rows)


async def default_address(db: Database, customer_id: int) -> AddressBook:
    """The customer's default address.

    Raises:
        NotFound: the customer has no default address.
    """
    async with db.sessions() as session:
        address = await session.scalar(
            select(AddressBook).where(
                AddressBook.customer_id == customer_id, AddressBook.is_default.is_(True)
            )
        )
    if address is None:
        raise NotFound("No default address; please add one.")
    return address
