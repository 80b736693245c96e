"""A clock that tests move by hand, for rules that depend on time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    """Stands still until ``advance`` is called.

    ``time()`` gives seconds since the epoch (as ``time.time``), ``utcnow()``
    the naive UTC time the tables store (as ``storage.tables.utcnow``).
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def time(self) -> float:
        return self._now.timestamp()

    def utcnow(self) -> datetime:
        return self._now.replace(tzinfo=None)

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
