"""When a person could first have seen or heard an alert: the consoles' ``ack`` frames.

A protocol-2 console sends ``{"type": "ack", "seq": N, "what": "shown"|"rung"}``
when it puts an alert of its shop on screen and when its sound plays. The
alert log keeps the earliest of each (``alert.first_shown_at`` and
``first_rung_at``), stamped with the server's clock when the frame arrived:
a console's own clock is not to be trusted.

Acks are many and say the same thing: every console of a shop acks every
alert. So they are not written one by one. ``AlertAcks`` keeps, in memory,
the earliest time per (shop, seq, what) heard since its last write, and
writes them every ``interval`` seconds in one transaction of conditional
UPDATEs (``WHERE first_rung_at IS NULL OR first_rung_at > :t``): ten
thousand consoles acking one alert cost one write, and of several server
processes acking the same alert, the earliest time wins whatever the order
of their writes. A time this process already wrote is not written again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import Table, bindparam, or_, update

from orderbell.storage.database import Database
from orderbell.storage.tables import AlertRow, utcnow

log = logging.getLogger(__name__)

What = Literal["shown", "rung"]
#: What a console may acknowledge, and the column that keeps the earliest time of each.
WHATS: tuple[What, ...] = ("shown", "rung")
MAX_SEQ = 2**62
#: Acks held for the next write at most; beyond that new ones are dropped
#: (a console can only ack so fast: its frame budget), with a log line.
MAX_PENDING = 50_000
#: Keys whose written time this process remembers, to skip writing them again.
MAX_REMEMBERED = 50_000

Key = tuple[int, int, str]

_ALERTS = cast(Table, AlertRow.__table__)


def _earliest(column: str) -> Any:
    col = _ALERTS.c[column]
    return (
        update(_ALERTS)
        .where(
            _ALERTS.c.shop_id == bindparam("shop"),
            _ALERTS.c.seq == bindparam("alert_seq"),
            or_(col.is_(None), col > bindparam("at")),
        )
        .values({column: bindparam("at")})
    )


_SET_EARLIEST = {"shown": _earliest("first_shown_at"), "rung": _earliest("first_rung_at")}


def parse_ack(frame: dict[str, Any]) -> tuple[int, What]:
    """The (seq, what) of an ``ack`` frame; unknown fields are ignored.

    Raises:
        ValueError: ``seq`` is not a whole number from 1 to 2**62, or ``what``
            is not ``shown`` or ``rung`` (the message says which).
    """
    seq = frame.get("seq")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq <= MAX_SEQ:
        raise ValueError("seq must be the whole number of an alert (1 or more)")
    what = frame.get("what")
    if what not in WHATS:
        raise ValueError('what must be "shown" or "rung"')
    return seq, cast(What, what)


class AlertAcks:
    """Collects the acks of this process's consoles and writes the earliest of each.

    Args:
        database: where the alert log is.
        interval: seconds between writes (the first ack of a quiet spell is
            written this long after it arrived).
        clock: now, as the naive UTC time the tables store.
    """

    def __init__(
        self,
        database: Database,
        *,
        interval: float = 0.25,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._database = database
        self._interval = interval
        self._clock = clock
        self._pending: dict[Key, datetime] = {}
        self._written: OrderedDict[Key, datetime] = OrderedDict()
        self._wake: asyncio.Event | None = None
        self._writer: asyncio.Task[None] | None = None
        self._full_logged = False
        #: Rows the writes changed, and the writes made (for tests and metrics).
        self.rows_written = 0
        self.writes = 0

    def record(self, shop_id: int, seq: int, what: What) -> None:
        """A console of ``shop_id`` acknowledged alert ``seq``: now is a candidate."""
        at = self._clock()
        key = (shop_id, seq, what)
        held = self._pending.get(key)
        if held is not None:
            if at < held:
                self._pending[key] = at
            return
        written = self._written.get(key)
        if written is not None and written <= at:
            # This process already wrote an earlier time: nothing to say.
            return
        if len(self._pending) >= MAX_PENDING:
            if not self._full_logged:
                self._full_logged = True
                log.warning("%d acks wait to be written; dropping new ones", MAX_PENDING)
            return
        self._pending[key] = at
        if self._wake is not None:
            self._wake.set()

    def hear(self, shop_id: int, frame: dict[str, Any]) -> None:
        """An ``ack`` frame of a console of ``shop_id``.

        Raises:
            ValueError: the frame is not a good ack (see ``parse_ack``).
        """
        seq, what = parse_ack(frame)
        self.record(shop_id, seq, what)

    @property
    def pending(self) -> int:
        """Acks waiting for the next write."""
        return len(self._pending)

    async def start(self) -> None:
        """Start writing in the background."""
        self._wake = asyncio.Event()
        self._writer = asyncio.create_task(self._write_forever(), name="orderbell-acks")
        if self._pending:
            self._wake.set()

    async def stop(self) -> None:
        """Stop, writing what is still held."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        try:
            await self.flush()
        except Exception as exc:
            log.warning("could not write %d acks on shutdown: %s", len(self._pending), exc)

    async def flush(self) -> None:
        """Write the held acks now, in one transaction."""
        batch, self._pending = self._pending, {}
        self._full_logged = False
        if not batch:
            return
        params: dict[str, list[dict[str, Any]]] = {what: [] for what in WHATS}
        for (shop_id, seq, what), at in batch.items():
            params[what].append({"shop": shop_id, "alert_seq": seq, "at": at})
        try:
            async with self._database.transaction() as session:
                for what, rows in params.items():
                    if rows:
                        result = await session.execute(_SET_EARLIEST[what], rows)
                        self.rows_written += max(0, int(getattr(result, "rowcount", 0) or 0))
        except Exception:
            # Kept for the next write (the earlier time of each, if heard again).
            for key, at in batch.items():
                held = self._pending.get(key)
                if held is None or at < held:
                    self._pending[key] = at
            raise
        self.writes += 1
        written = self._written
        for key, at in batch.items():
            written[key] = at
            written.move_to_end(key)
        while len(written) > MAX_REMEMBERED:
            written.popitem(last=False)

    async def _write_forever(self) -> None:
        assert self._wake is not None
        while True:
            await self._wake.wait()
            # Gather what else comes within the interval: one write for all of it.
            await asyncio.sleep(self._interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception as exc:
                log.warning("writing acks failed (tried again): %s", exc)
                self._wake.set()
