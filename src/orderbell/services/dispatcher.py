"""The one dispatcher that carries out every outgoing row (webhooks; later push, print).

Rows are written in the transaction of their cause (``storage.outgoing``).
After such a commit the outbox pokes the dispatcher, which claims the due
rows at once; it also polls, for rows other processes wrote, for retries,
and for rows a dead process left mid-attempt. Each row goes to the sender
of its ``kind`` (``senders``); what came back is written in batches, with
the attempt, and the row is delivered, due again later (``RetryPolicy``) or
failed for good.

Attempts in flight are bounded per target (an endpoint) and overall; a
target at its bound is left out of the next claims, so a slow or dead
endpoint holds only its own slots and the others' rows keep flowing.
Delivery is at least once: a row is settled after its attempt, so a
process that dies in between leaves it to be attempted again (with the
same message id) once its lease is over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from orderbell.domain.retries import RetryPolicy
from orderbell.services.outbox import Outbox, Work
from orderbell.storage import outgoing
from orderbell.storage.outgoing import Claimed, Settlement
from orderbell.storage.tables import utcnow

log = logging.getLogger(__name__)

#: Outcomes the dispatcher counts (``Dispatcher.outcomes``, the metrics).
DELIVERED, FAILED_ATTEMPT, GAVE_UP = "delivered", "failed_attempt", "gave_up"
#: Failed attempts in a row after which a target is failing: it rests a
#: little (longer each time, at most ``REST_MAX`` seconds), then gets one
#: attempt; the first that gets through ends it. A dead endpoint's rows then
#: cost an attempt every few seconds, not a burst of failures that takes the
#: CPU the other endpoints' deliveries need; and a short blip still costs a
#: row no more than the few seconds its own first retry waits anyway.
FAILING_AFTER = 3
REST_MAX = 8.0


@dataclass(frozen=True, slots=True)
class Result:
    """What one attempt came to.

    ``final`` gives the row up without retrying (its target is gone or
    refused for good); otherwise a failure is retried by the retry policy.
    """

    delivered: bool
    status: int | None = None
    error: str | None = None
    final: bool = False


class Sender(Protocol):
    """Carries out the rows of one kind; the dispatcher calls it.

    ``send`` makes one attempt and reports it; it must not raise for a
    failure of the other side (an exception counts as a failed attempt
    all the same). ``settled`` is called with the settled attempts inside
    the transaction that writes them, so that the sender can keep its own
    state of targets (a failing endpoint) and queue notices to consoles.
    """

    async def send(self, row: Claimed) -> Result:
        """Make one attempt at ``row``."""
        ...

    async def settled(self, work: Work, settlements: Sequence[Settlement]) -> None:
        """Record what the settled attempts say of their targets."""
        ...

    async def close(self) -> None:
        """Release what the sender holds (connections)."""
        ...


class Dispatcher:
    """Claims due outgoing rows and carries them out, bounded, until stopped.

    Args:
        outbox: the way into the database (settlements may queue notices).
        senders: the sender of each kind of row.
        retry: when a failed row is tried again, and when it is given up.
        per_target: attempts in flight to one target at most (in this process).
        overall: attempts in flight at most (in this process).
        poll_interval: seconds between looks for due rows when not poked.
        lease: a claimed row is due again after this many seconds if its
            attempt is never settled (the process died); longer than an attempt.
        stop_timeout: seconds ``stop`` waits for attempts in flight.
        gather: while attempts are in flight, seconds a turn waits for more of
            them to end, so that one transaction writes many outcomes.
        serial: kinds whose rows go to their target one at a time, oldest
            first (print jobs); only the kinds of ``senders`` are claimed.
        retries: a retry policy of its own for some kinds (``retry`` for the rest).
    """

    def __init__(
        self,
        outbox: Outbox,
        senders: Mapping[str, Sender],
        *,
        retry: RetryPolicy,
        per_target: int = 16,
        overall: int = 128,
        poll_interval: float = 1.0,
        lease: float = 60.0,
        stop_timeout: float = 10.0,
        gather: float = 0.02,
        serial: Collection[str] = (),
        retries: Mapping[str, RetryPolicy] | None = None,
    ) -> None:
        if per_target < 1 or overall < 1:
            raise ValueError("the bounds on attempts in flight must be at least 1")
        self._outbox = outbox
        self._database = outbox.database
        self.senders: dict[str, Sender] = dict(senders)
        self.retry = retry
        self._per_target = per_target
        self._overall = overall
        self._poll = poll_interval
        self._lease = timedelta(seconds=lease)
        self._stop_timeout = stop_timeout
        self._gather = gather
        self._serial = frozenset(serial)
        self.retries: dict[str, RetryPolicy] = dict(retries or {})
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._per: Counter[tuple[str, int]] = Counter()
        #: Failed attempts in a row per target (in this process).
        self._failures: Counter[tuple[str, int]] = Counter()
        #: Failing targets resting until this time (monotonic).
        self._resting: dict[tuple[str, int], float] = {}
        self._done: list[Settlement] = []
        self._next_due: datetime | None = None
        #: Attempts by (kind, outcome): delivered, failed_attempt, gave_up.
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self._failing = False

    @property
    def in_flight(self) -> int:
        """Attempts under way in this process."""
        return len(self._in_flight)

    def poke(self) -> None:
        """Look for due rows now (called after a commit that wrote some)."""
        self._wake.set()

    def start(self) -> None:
        """Start claiming and carrying out rows in the background."""
        if self._loop_task is None:
            self._stopping = False
            self._loop_task = asyncio.get_running_loop().create_task(
                self._run(), name="orderbell-dispatcher"
            )

    async def stop(self) -> None:
        """Stop claiming, let the attempts in flight end (for a while), write their
        outcomes and close the senders. Rows left unsettled are claimed again
        after their lease by the next process."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        tasks = list(self._in_flight.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self._stop_timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        with contextlib.suppress(Exception):
            await self._settle()
        for sender in self.senders.values():
            with contextlib.suppress(Exception):
                await sender.close()

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self._turn()
                if self._failing:
                    self._failing = False
                    log.warning("dispatcher: the database answers again")
            except Exception as exc:
                if not self._failing:
                    log.warning("dispatcher: claiming or settling failed (tried again): %r", exc)
                self._failing = True
                await asyncio.sleep(self._poll)
                continue
            wait = self._poll
            if self._next_due is not None:
                wait = max(0.0, min(wait, (self._next_due - utcnow()).total_seconds()))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            await self._gather_endings()

    async def _gather_endings(self) -> None:
        # Attempts end one by one; a turn (one transaction) per ending would
        # cost more than the attempt itself. Until half of those in flight have
        # ended, or ``gather`` has passed, the next turn waits.
        want = (len(self._in_flight) + len(self._done)) // 2
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._gather
        while self._in_flight and len(self._done) < want and not self._stopping:
            left = deadline - loop.time()
            if left <= 0:
                return
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._wake.wait()

    async def _turn(self) -> None:
        """Write the outcomes of the attempts that ended and claim rows for the free
        slots, in one short transaction."""
        room = 0 if self._stopping else self._overall - len(self._in_flight)
        if room <= 0 and not self._done:
            return
        batch, self._done = self._done, []
        rows: list[Claimed] = []
        try:
            async with self._outbox.transaction() as work:
                await self._write(work, batch)
                if room > 0:
                    rows = await outgoing.claim(
                        work.session,
                        limit=min(room, 500),
                        room=dict(self._per),
                        full=self._full(),
                        per_target=self._per_target,
                        caps={t: 1 for t, n in self._failures.items() if n >= FAILING_AFTER},
                        lease=self._lease,
                        lock=not self._database.is_sqlite,
                        kinds=list(self.senders),
                        serial=self._serial,
                    )
        except BaseException:
            # Kept for the next turn; the rows stay leased meanwhile.
            self._done = batch + self._done
            raise
        if self._next_due is not None and self._next_due <= utcnow():
            self._next_due = None
        loop = asyncio.get_running_loop()
        for row in rows:
            sender = self.senders.get(row.kind)
            self._per[row.target] += 1
            self._in_flight[row.id] = loop.create_task(self._attempt(row, sender))

    async def _attempt(self, row: Claimed, sender: Sender | None) -> None:
        started = utcnow()
        began = time.perf_counter()
        try:
            if sender is None:
                result = Result(False, error=f"no sender for kind {row.kind!r}", final=True)
            else:
                result = await sender.send(row)
        except asyncio.CancelledError:
            # Stopped mid-attempt: the row stays leased and is tried again later.
            self._release(row)
            raise
        except Exception as exc:
            log.warning("dispatcher: %s sender failed on row %d: %r", row.kind, row.id, exc)
            result = Result(False, error=f"sender failed: {exc!r}")
        duration_ms = int((time.perf_counter() - began) * 1000)
        next_at: datetime | None = None
        if result.delivered:
            self.outcomes[row.kind, DELIVERED] += 1
            self._failures.pop(row.target, None)
            self._resting.pop(row.target, None)
        else:
            self.outcomes[row.kind, FAILED_ATTEMPT] += 1
            self._failures[row.target] += 1
            over = self._failures[row.target] - FAILING_AFTER
            if over >= 0:
                self._resting[row.target] = time.monotonic() + min(2.0**over, REST_MAX)
            if not result.final:
                next_at = self.retries.get(row.kind, self.retry).next_attempt(
                    created_at=row.created_at, attempts=row.attempts + 1, now=utcnow()
                )
            if next_at is None:
                self.outcomes[row.kind, GAVE_UP] += 1
            elif self._next_due is None or next_at < self._next_due:
                self._next_due = next_at
        self._done.append(
            Settlement(
                row=row,
                started_at=started,
                duration_ms=duration_ms,
                status=result.status,
                error=result.error,
                delivered=result.delivered,
                next_at=next_at,
            )
        )
        self._release(row)
        self._wake.set()

    def _full(self) -> list[tuple[str, int]]:
        """Targets that get no row this turn: at their bound, or resting."""
        now = time.monotonic()
        for target, until in list(self._resting.items()):
            if until <= now:
                del self._resting[target]
        full = {t for t, n in self._per.items() if n >= self._bound(t)}
        return sorted(full | self._resting.keys())

    def _bound(self, target: tuple[str, int]) -> int:
        """Attempts in flight that ``target`` may have: one while it keeps failing."""
        return 1 if self._failures.get(target, 0) >= FAILING_AFTER else self._per_target

    def _release(self, row: Claimed) -> None:
        self._in_flight.pop(row.id, None)
        self._per[row.target] -= 1
        if self._per[row.target] <= 0:
            del self._per[row.target]

    async def _write(self, work: Work, batch: list[Settlement]) -> None:
        if not batch:
            return
        await outgoing.settle(work.session, batch)
        by_kind: dict[str, list[Settlement]] = {}
        for s in batch:
            by_kind.setdefault(s.row.kind, []).append(s)
        for kind, settlements in by_kind.items():
            sender = self.senders.get(kind)
            if sender is not None:
                await sender.settled(work, settlements)

    async def _settle(self) -> None:
        if not self._done:
            return
        batch, self._done = self._done, []
        try:
            async with self._outbox.transaction() as work:
                await self._write(work, batch)
        except BaseException:
            self._done = batch + self._done
            raise
