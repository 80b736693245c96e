"""Failed logins counted per account and per client address, in the database.

Each login attempt is counted *before* its password is checked, in one
atomic upsert per counter, and the count is given back when the password
turns out right. So the counters hold failed attempts plus those in flight:
a burst of concurrent guesses cannot slip past the limit while the slow
password checks run, and several server processes share the counters
because they live in the ``login_throttle`` table.

Counting uses fixed windows: a counter starts at the first failure and
empties ``window`` later. Keys are SHA-256 digests, so typed names and
client addresses are not stored in the clear.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from orderbell.domain.errors import TooManyRequests
from orderbell.storage.database import Database
from orderbell.storage.tables import LoginCounter, utcnow


@dataclass(frozen=True, slots=True)
class LoginPolicy:
    """How many failed logins are allowed in one window, per account and per address."""

    max_per_account: int = 5
    max_per_address: int = 30
    window: timedelta = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Attempt:
    """A login attempt that has been counted; give it back with ``succeeded``."""

    keys: tuple[str, ...]


def throttle_key(kind: str, value: str) -> str:
    """The stored key of a counter: a digest of ``kind`` and ``value``."""
    return hashlib.sha256(f"{kind}\x1f{value}".encode()).hexdigest()


def _iso(moment: datetime) -> str:
    return moment.replace(tzinfo=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class LoginThrottle:
    """The counters of failed logins, shared by every process on the database.

    ``clock`` gives now as the naive UTC time the tables store (``utcnow``
    unless a test passes a clock it moves by hand); windows start and end by it.
    """

    def __init__(
        self, db: Database, policy: LoginPolicy, *, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self._db = db
        self._policy = policy
        self._clock = clock

    async def begin(self, *, account: str, address: str | None) -> Attempt:
        """Count an attempt on ``account`` (for example "customer:13800000001") from
        ``address`` (the client's IP, if known) and check the limits.

        Raises:
            TooManyRequests: the account or the address has had too many
                failed logins in the current window.
        """
        policy = self._policy
        now = self._clock()
        counters = [("account", throttle_key("account", account), policy.max_per_account)]
        if address:
            counters.append(("address", throttle_key("address", address), policy.max_per_address))
        async with self._db.transaction() as session:
            # Old windows are of no use to anyone; the index keeps this cheap.
            await session.execute(
                delete(LoginCounter).where(LoginCounter.window_start <= now - policy.window)
            )
            refusal: TooManyRequests | None = None
            for what, key, limit in counters:
                failures, started = await self._count(session, key, now)
                if failures > limit and refusal is None:
                    refusal = self._refusal(what, now, started + policy.window)
        if refusal is not None:
            raise refusal
        return Attempt(tuple(key for _, key, _ in counters))

    async def succeeded(self, attempt: Attempt) -> None:
        """The password was right: this attempt was no failure, give its counts back."""
        async with self._db.transaction() as session:
            await session.execute(
                update(LoginCounter)
                .where(LoginCounter.key.in_(attempt.keys), LoginCounter.failures > 0)
                .values(failures=LoginCounter.failures - 1)
            )

    async def _count(self, session: AsyncSession, key: str, now: datetime) -> tuple[int, datetime]:
        # One statement, so that concurrent attempts (in any process) each
        # see their own count: insert the counter or add one to it, starting
        # a new window if the old one is over.
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        values = insert(LoginCounter).values(key=key, window_start=now, failures=1)
        expired = LoginCounter.window_start <= now - self._policy.window
        stmt = values.on_conflict_do_update(
            index_elements=[LoginCounter.key],
            set_={
                "failures": case((expired, 1), else_=LoginCounter.failures + 1),
                "window_start": case((expired, now), else_=LoginCounter.window_start),
            },
        ).returning(LoginCounter.failures, LoginCounter.window_start)
        failures, started = (await session.execute(stmt)).one()
        return int(failures), started

    @staticmethod
    def _refusal(what: str, now: datetime, until: datetime) -> TooManyRequests:
        wait = max(1, math.ceil((until - now).total_seconds()))
        minutes = math.ceil(wait / 60)
        source = "this account" if what == "account" else "your network address"
        return TooManyRequests(
            f"Too many failed logins for {source}; please try again in "
            f"{minutes} minute{'s' if minutes != 1 else ''}.",
            retry_after=wait,
            data={"retryAfter": wait, "nextAllowedAt": _iso(until)},
        )
