"""A shop's receipt printers: added, listed, removed, and what they last reported.

Two kinds. ``escpos-tcp``: a thermal printer on the shop's network that
takes raw ESC/POS on a TCP port (9100 on most); the server connects to its
``host:port`` and writes each ticket. Such an address is private (a shop's
LAN, reached over a VPN or from a server in the shop), which is the normal
case here, unlike webhooks. ``cloudprnt``: a Star printer that polls the
server over HTTP(S) (``services.printing.cloudprnt``); it logs in with the
printer's ``login`` and a secret shown once at creation, of which only a
hash is kept.

Printers live in the database: one added while the servers run prints
without a restart (the senders read it on each job).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update

from orderbell.domain.errors import BusinessError, NotFound
from orderbell.domain.tickets import COLUMNS
from orderbell.storage import outgoing
from orderbell.storage.database import Database
from orderbell.storage.tables import Outgoing, Printer, Shop, utcnow

ESCPOS_TCP, CLOUDPRNT = "escpos-tcp", "cloudprnt"
KINDS = (ESCPOS_TCP, CLOUDPRNT)
#: Printers one shop may have at most.
MAX_PER_SHOP = 10
#: What a printer reports of itself.
ONLINE, OFFLINE, UNKNOWN = "online", "offline", "unknown"
PAPER_OUT, PAPER_LOW, COVER_OPEN, ERROR = "paper out", "paper low", "cover open", "error"
#: States in which a printer prints (a warning on the consoles otherwise).
PRINTING = frozenset({ONLINE, PAPER_LOW})


def iso(value: datetime | None) -> str | None:
    """A stored (naive UTC) time as the API writes it."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def digest(secret: str) -> str:
    """The stored hash of a CloudPRNT secret (random, so a plain SHA-256 is enough)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_address(address: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for an IPv6 address) taken apart.

    Raises:
        BusinessError: not such an address.
    """
    text = address.strip()
    if not text or len(text) > 255 or any(c.isspace() for c in text):
        raise BusinessError('The address must be "host:port", e.g. "192.168.1.50:9100".')
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not port_text.isascii():
        raise BusinessError('The address must be "host:port", e.g. "192.168.1.50:9100".')
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise BusinessError("The port must be between 1 and 65535.")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise BusinessError(f"{host!r} is not an IPv6 address.") from exc
    elif ":" in host or "/" in host or "@" in host:
        raise BusinessError('The address must be "host:port", e.g. "192.168.1.50:9100".')
    return host, port


def is_online(printer: Printer, *, now: datetime, within: timedelta) -> bool:
    """Whether the printer was heard within ``within`` and last said it prints."""
    heard = printer.last_heard_at
    return heard is not None and now - heard <= within and printer.status in PRINTING


def public(printer: Printer, *, now: datetime | None = None, within: timedelta) -> dict[str, Any]:
    """A printer as the API shows it (never its secret or its hash)."""
    now = now or utcnow()
    online = is_online(printer, now=now, within=within)
    heard = printer.last_heard_at
    recent = heard is not None and now - heard <= within
    return {
        "id": printer.id,
        "shopId": printer.shop_id,
        "kind": printer.kind,
        "name": printer.name,
        "address": printer.address,
        "width": printer.width,
        "enabled": printer.enabled,
        "login": printer.login,
        "mac": printer.mac,
        "online": online,
        # A printer not heard for a while is offline whatever it said last.
        "status": printer.status if recent or heard is None else OFFLINE,
        "reportedStatus": printer.status,
        "statusDetail": printer.status_detail,
        "lastHeardAt": iso(printer.last_heard_at),
        "createdAt": iso(printer.created_at),
    }


@dataclass(frozen=True, slots=True)
class Added:
    """A new printer and, for CloudPRNT, its secret (shown this once)."""

    printer: Printer
    secret: str | None

    def public(self, within: timedelta) -> dict[str, Any]:
        """The printer as the API shows it, with ``secret`` for CloudPRNT."""
        shown = public(self.printer, within=within)
        if self.secret is not None:
            shown["secret"] = self.secret
        return shown


async def add(
    db: Database,
    *,
    shop_id: int,
    kind: str,
    name: str = "",
    address: str | None = None,
    width: int = 80,
) -> Added:
    """Add a printer to a shop.

    Raises:
        BusinessError: an unknown kind, a bad address or width, too many printers.
        NotFound: no such shop.
    """
    if kind not in KINDS:
        raise BusinessError(f"kind must be one of: {', '.join(KINDS)}.")
    if width not in COLUMNS:
        raise BusinessError(f"width must be one of {sorted(COLUMNS)} (mm).")
    name = name.strip()
    if len(name) > 64:
        raise BusinessError("The name must be at most 64 characters.")
    login: str | None = None
    secret: str | None = None
    if kind == ESCPOS_TCP:
        if address is None:
            raise BusinessError('An escpos-tcp printer needs its address, "host:port".')
        host, port = parse_address(address)
        address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    else:
        if address:
            raise BusinessError("A cloudprnt printer has no address: it calls the server.")
        address = None
        login = "cp_" + secrets.token_hex(8)
        secret = secrets.token_urlsafe(24)
    async with db.transaction() as session:
        if await session.get(Shop, shop_id) is None:
            raise NotFound(f"Shop {shop_id} not found.")
        count = await session.scalar(
            select(func.count())
            .select_from(Printer)
            .where(Printer.shop_id == shop_id, Printer.removed_at.is_(None))
        )
        if int(count or 0) >= MAX_PER_SHOP:
            raise BusinessError(
                f"A shop may have at most {MAX_PER_SHOP} printers; remove one first."
            )
        printer = Printer(
            shop_id=shop_id,
            kind=kind,
            name=name or (address or "CloudPRNT printer"),
            address=address,
            width=width,
            enabled=True,
            login=login,
            secret_hash=digest(secret) if secret else None,
            status=UNKNOWN,
            created_at=utcnow(),
        )
        session.add(printer)
        await session.flush()
    return Added(printer, secret)


async def printers(db: Database, shop_id: int | None) -> list[Printer]:
    """The printers of a shop (None: of every shop), oldest first, removed ones left out."""
    async with db.sessions() as session:
        query = select(Printer).where(Printer.removed_at.is_(None))
        if shop_id is not None:
            query = query.where(Printer.shop_id == shop_id)
        return list(await session.scalars(query.order_by(Printer.id)))


async def remove(db: Database, shop_id: int | None, printer_id: int) -> int:
    """Remove a printer; its jobs not yet printed are given up. Returns how many.

    Raises:
        NotFound: no such printer (of this shop).
    """
    async with db.transaction() as session:
        query = select(Printer).where(Printer.id == printer_id, Printer.removed_at.is_(None))
        if shop_id is not None:
            query = query.where(Printer.shop_id == shop_id)
        printer = await session.scalar(query.with_for_update())
        if printer is None:
            raise NotFound(f"Printer {printer_id} not found.")
        printer.removed_at = utcnow()
        printer.enabled = False
        kind = outgoing.PRINT if printer.kind == ESCPOS_TCP else outgoing.CLOUDPRNT
        given_up = await outgoing.fail_queued(session, kind, printer_id, "printer removed")
        # A CloudPRNT job fetched and never confirmed is given up too.
        fetched = await session.execute(
            update(Outgoing)
            .where(
                Outgoing.kind == kind,
                Outgoing.target_id == printer_id,
                Outgoing.state == outgoing.SENT,
            )
            .values(state=outgoing.FAILED, finished_at=utcnow(), last_error="printer removed")
        )
        return given_up + int(getattr(fetched, "rowcount", 0) or 0)


async def by_login(db: Database, login: str, secret: str) -> Printer | None:
    """The CloudPRNT printer these credentials are of, or None (wrong or removed)."""
    async with db.sessions() as session:
        printer = await session.scalar(
            select(Printer).where(
                Printer.login == login,
                Printer.kind == CLOUDPRNT,
                Printer.removed_at.is_(None),
            )
        )
    if printer is None or printer.secret_hash is None:
        # Hash anyway, so that an unknown login takes as long as a wrong secret.
        hmac.compare_digest(digest(secret), "0" * 64)
        return None
    if not hmac.compare_digest(digest(secret), printer.secret_hash):
        return None
    return printer
