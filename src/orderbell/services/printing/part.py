"""Printing as one part of a server process: the watch of idle printers, which
printers count as listening, and the printers as devices of their shop."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from orderbell.services.outbox import Outbox
from orderbell.services.printing import printers
from orderbell.services.printing.printers import PRINTING
from orderbell.services.printing.sender import EscposSender, PrinterWatch
from orderbell.storage.tables import Printer, Shop, utcnow


class Printing:
    """The printing of one process.

    Args:
        outbox: the way into the database.
        sender: the ESC/POS sender the dispatcher uses (the watch probes with it).
        check_interval: seconds between looks at idle ESC/POS printers (0: never).
        offline_after: seconds without a word after which a printer is offline.
    """

    def __init__(
        self,
        outbox: Outbox,
        sender: EscposSender,
        *,
        check_interval: float,
        offline_after: float,
    ) -> None:
        self._database = outbox.database
        self.within = timedelta(seconds=offline_after)
        self.watch = PrinterWatch(outbox, sender, interval=check_interval)

    def start(self) -> None:
        """Start watching idle printers."""
        self.watch.start()

    async def stop(self) -> None:
        """Stop watching."""
        await self.watch.stop()

    async def listening(self, shop_ids: Sequence[int]) -> set[int]:
        """The shops of those given that have auto-accept on and a printer online:
        their orders print by themselves, so somebody hears of them."""
        if not shop_ids:
            return set()
        since = utcnow() - self.within
        async with self._database.sessions() as session:
            found = await session.scalars(
                select(Printer.shop_id)
                .join(Shop, Shop.id == Printer.shop_id)
                .where(
                    Printer.shop_id.in_(list(shop_ids)),
                    Shop.auto_accept.is_(True),
                    Printer.enabled.is_(True),
                    Printer.removed_at.is_(None),
                    Printer.last_heard_at >= since,
                    Printer.status.in_(sorted(PRINTING)),
                )
                .distinct()
            )
            return {int(s) for s in found}

    async def devices(self, shop_id: int) -> list[dict[str, Any]]:
        """The shop's enabled printers as devices: online, last heard, status, and a
        ``warning`` when one does not print (offline, out of paper, cover open)."""
        now = utcnow()
        shown = []
        for printer in await printers.printers(self._database, shop_id):
            if not printer.enabled:
                continue
            device = printers.public(printer, now=now, within=self.within)
            device["warning"] = None if device["online"] else _warning(device)
            shown.append(device)
        return shown


def _warning(device: dict[str, Any]) -> str:
    name = device["name"]
    status = device["status"]
    if status == printers.UNKNOWN:
        return f"Printer {name} has not been heard from yet."
    if status == printers.OFFLINE:
        return f"Printer {name} is offline: tickets wait until it is back."
    return f"Printer {name}: {status}. Tickets wait until it is fixed."
