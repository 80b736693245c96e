"""The ``outgoing`` table: side effects written with their cause, claimed, settled, listed.

Rows are written in the transaction of the change that causes them
(``record_events``), claimed by a dispatcher in a short transaction that
moves ``next_attempt_at`` past a lease (``claim``), and settled once the
attempt is over (``settle``): delivered, due again later, or failed for good.
On PostgreSQL the claim skips the rows another process is claiming
(``FOR UPDATE SKIP LOCKED``), so each row is attempted by one process at a
time; a process that dies mid-attempt leaves its rows to be claimed again
once their lease is over. SQLite has one process, which claims alone.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orderbell.domain.events import Event
from orderbell.storage.tables import Outgoing, OutgoingAttempt, WebhookEndpoint, utcnow

_OUT = cast(Table, Outgoing.__table__)
_ATTEMPTS = cast(Table, OutgoingAttempt.__table__)

#: The kind of a webhook delivery (``Outgoing.kind``).
WEBHOOK = "webhook"
#: Print jobs: pushed by the dispatcher (ESC/POS over TCP), or fetched by a
#: printer that polls (Star CloudPRNT; the dispatcher never claims these).
PRINT, CLOUDPRNT = "print", "cloudprnt"

QUEUED, DELIVERED, FAILED = "queued", "delivered", "failed"
#: A polled print job the printer has fetched and not yet confirmed.
SENT = "sent"
STATES = (QUEUED, SENT, DELIVERED, FAILED)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row claimed for one attempt; ``attempts`` counts the attempts made before it."""

    id: int
    kind: str
    target_id: int
    shop_id: int | None
    message_id: str
    event_type: str
    payload: str
    attempts: int
    created_at: datetime

    @property
    def target(self) -> tuple[str, int]:
        """(kind, target id): what the bounds on attempts in flight count by."""
        return self.kind, self.target_id


@dataclass(frozen=True, slots=True)
class Settlement:
    """How one attempt at a claimed row ended, to be written by ``settle``.

    ``next_at`` is when to try again (the row stays queued); None with
    ``delivered`` False means failed for good.
    """

    row: Claimed
    started_at: datetime
    duration_ms: int
    status: int | None
    error: str | None
    delivered: bool
    next_at: datetime | None


def subscribed(events_column: str, event_type: str) -> bool:
    """Whether an endpoint's comma-separated event list holds ``event_type``."""
    return event_type in events_column.split(",")


async def record_events(session: AsyncSession, events: Sequence[Event]) -> int:
    """Write one webhook row per event and subscribed endpoint, in the caller's
    transaction; returns how many. An endpoint gets the events of its own shop,
    one of the whole deployment (no shop) those of every shop."""
    if not events:
        return 0
    shops = {e.shop_id for e in events if e.shop_id is not None}
    whose: ColumnElement[bool] = WebhookEndpoint.shop_id.is_(None)
    if shops:
        whose = or_(whose, WebhookEndpoint.shop_id.in_(shops))
    endpoints = (
        await session.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.shop_id, WebhookEndpoint.events).where(
                whose, WebhookEndpoint.enabled.is_(True), WebhookEndpoint.removed_at.is_(None)
            )
        )
    ).all()
    if not endpoints:
        return 0
    rows: list[dict[str, Any]] = []
    now = utcnow()
    for event in events:
        body: str | None = None
        for endpoint_id, endpoint_shop, types in endpoints:
            if endpoint_shop is not None and endpoint_shop != event.shop_id:
                continue
            if not subscribed(types, event.type):
                continue
            body = body or event.body().decode()
            rows.append(_row(endpoint_id, event, body, now))
    if rows:
        await session.execute(insert(_OUT), rows)
    return len(rows)


def _row(
    endpoint_id: int, event: Event, body: str, now: datetime, kind: str = WEBHOOK
) -> dict[str, Any]:
    return {
        "kind": kind,
        "target_id": endpoint_id,
        "shop_id": event.shop_id,
        "message_id": event.id,
        "event_type": str(event.type),
        "payload": body,
        "state": QUEUED,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


async def queue_for(
    session: AsyncSession, target_id: int, event: Event, *, kind: str = WEBHOOK
) -> int:
    """Write ``event`` as one row of ``kind`` for one target only (a test event; a
    push or print job of a later sender); returns the row's id."""
    row = _row(target_id, event, event.body().decode(), utcnow(), kind)
    return int(
        (await session.execute(insert(_OUT).values(**row).returning(_OUT.c.id))).scalar_one()
    )


async def claim(
    session: AsyncSession,
    *,
    limit: int,
    room: dict[tuple[str, int], int] | None = None,
    full: Collection[tuple[str, int]] = (),
    per_target: int,
    lease: timedelta,
    lock: bool,
    now: datetime | None = None,
    kinds: Collection[str] | None = None,
    serial: Collection[str] = (),
    caps: Mapping[tuple[str, int], int] | None = None,
) -> list[Claimed]:
    """Claim up to ``limit`` due rows, at most ``per_target`` of one target (or what
    ``caps`` says for it) less what ``room`` says is in flight there, none of the
    targets in ``full``.

    Only rows of ``kinds`` are claimed (None: of every kind). A row of a
    kind in ``serial`` (print jobs) is claimed only when it is the oldest
    row of its target not yet finished, so that a target gets its rows one
    at a time and in order, even after a while away.

    Call inside a short transaction of its own; ``lock`` (PostgreSQL) skips
    rows another transaction holds. The claimed rows are due again after
    ``lease``: if the attempt is never settled, they are claimed again then.
    """
    now = now or utcnow()
    due = and_(_OUT.c.state == QUEUED, _OUT.c.next_attempt_at <= now)
    base = select(_OUT.c.id, _OUT.c.kind, _OUT.c.target_id).where(due)
    if kinds is not None:
        base = base.where(_OUT.c.kind.in_(list(kinds)))
    if serial:
        older = _OUT.alias("older")
        earlier = (
            select(older.c.id)
            .where(
                older.c.kind == _OUT.c.kind,
                older.c.target_id == _OUT.c.target_id,
                older.c.state.in_((QUEUED, SENT)),
                older.c.id < _OUT.c.id,
            )
            .exists()
        )
        base = base.where(or_(_OUT.c.kind.not_in(list(serial)), ~earlier))
    capped = dict(caps or {})
    # A capped target's rows are looked up on their own (below): among the
    # others, its many due rows would fill the window read here.
    left_out = set(full) | set(capped)
    query = base
    if left_out:
        # Few targets are ever full or capped at once; a NOT over a short list.
        query = query.where(
            ~or_(*(and_(_OUT.c.kind == k, _OUT.c.target_id == t) for k, t in left_out))
        )
    # Reading more than is taken leaves room for other targets when one
    # target's rows come first.
    query = query.order_by(_OUT.c.next_attempt_at).limit(limit * 2)
    if lock:
        query = query.with_for_update(skip_locked=True)
    candidates = list((await session.execute(query)).all())
    # A capped target's few rows go first: they were left out of the window above.
    first: list[Any] = []
    for (kind, target_id), cap in capped.items():
        free = cap - (room or {}).get((kind, target_id), 0)
        if free <= 0 or (kind, target_id) in full:
            continue
        own = (
            base.where(_OUT.c.kind == kind, _OUT.c.target_id == target_id)
            .order_by(_OUT.c.next_attempt_at)
            .limit(free)
        )
        if lock:
            own = own.with_for_update(skip_locked=True)
        first += (await session.execute(own)).all()
    candidates = first + candidates
    taken: dict[tuple[str, int], int] = dict(room or {})
    ids: list[int] = []
    for row_id, kind, target_id in candidates:
        key = (kind, target_id)
        if taken.get(key, 0) >= capped.get(key, per_target):
            continue
        taken[key] = taken.get(key, 0) + 1
        ids.append(row_id)
        if len(ids) >= limit:
            break
    if not ids:
        return []
    claimed = await session.execute(
        update(_OUT)
        .where(_OUT.c.id.in_(ids))
        .values(next_attempt_at=now + lease)
        .returning(
            _OUT.c.id,
            _OUT.c.kind,
            _OUT.c.target_id,
            _OUT.c.shop_id,
            _OUT.c.message_id,
            _OUT.c.event_type,
            _OUT.c.payload,
            _OUT.c.attempts,
            _OUT.c.created_at,
        )
    )
    rows = [Claimed(*row) for row in claimed]
    rows.sort(key=lambda r: r.id)
    return rows


async def settle(session: AsyncSession, settlements: Sequence[Settlement]) -> None:
    """Write the outcome of attempts: the attempt rows, and each row's new state."""
    if not settlements:
        return
    await session.execute(
        insert(_ATTEMPTS),
        [
            {
                "outgoing_id": s.row.id,
                "number": s.row.attempts + 1,
                "started_at": s.started_at,
                "duration_ms": s.duration_ms,
                "status": s.status,
                "error": _short(s.error),
            }
            for s in settlements
        ],
    )
    now = utcnow()
    by_status: dict[int | None, list[int]] = {}
    for s in settlements:
        if s.delivered:
            by_status.setdefault(s.status, []).append(s.row.id)
    for status, ids in by_status.items():
        # One statement per status; a row given up meanwhile (its endpoint
        # removed) stays given up.
        await session.execute(
            update(_OUT)
            .where(_OUT.c.id.in_(ids), _OUT.c.state == QUEUED)
            .values(
                state=DELIVERED,
                attempts=_OUT.c.attempts + 1,
                finished_at=now,
                last_status=status,
                last_error=None,
            )
        )
    # Failures in two statements of many rows each: due again, or given up.
    again = [s for s in settlements if not s.delivered and s.next_at is not None]
    given_up = [s for s in settlements if not s.delivered and s.next_at is None]
    failed = update(_OUT).where(_OUT.c.id == bindparam("row_id"), _OUT.c.state == QUEUED)
    if again:
        await session.execute(
            failed.values(
                attempts=_OUT.c.attempts + 1,
                last_status=bindparam("status"),
                last_error=bindparam("error"),
                next_attempt_at=bindparam("next_at"),
            ),
            [
                {
                    "row_id": s.row.id,
                    "status": s.status,
                    "error": _short(s.error),
                    "next_at": s.next_at,
                }
                for s in again
            ],
        )
    if given_up:
        await session.execute(
            failed.values(
                attempts=_OUT.c.attempts + 1,
                last_status=bindparam("status"),
                last_error=bindparam("error"),
                state=FAILED,
                finished_at=now,
            ),
            [{"row_id": s.row.id, "status": s.status, "error": _short(s.error)} for s in given_up],
        )


def _short(error: str | None) -> str | None:
    return None if error is None else error[:255]


async def fail_queued(session: AsyncSession, kind: str, target_id: int, reason: str) -> int:
    """Give up every queued row of one target (it was removed or disabled); returns how many."""
    result = await session.execute(
        update(_OUT)
        .where(_OUT.c.kind == kind, _OUT.c.target_id == target_id, _OUT.c.state == QUEUED)
        .values(state=FAILED, finished_at=utcnow(), last_error=_short(reason))
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of rows, newest first, and how many rows match in all."""

    rows: list[Outgoing]
    total: int


async def listing(
    session: AsyncSession,
    *,
    kind: str = WEBHOOK,
    targets: Sequence[int] | None = None,
    state: str | None = None,
    event_type: str | None = None,
    page: int = 1,
    page_size: int = 20,
) -> Page:
    """Rows of one kind (to ``targets``; None: to any), newest first, filtered."""
    conditions = [Outgoing.kind == kind]
    if targets is not None:
        conditions.append(Outgoing.target_id.in_(targets))
    if state is not None:
        conditions.append(Outgoing.state == state)
    if event_type is not None:
        conditions.append(Outgoing.event_type == event_type)
    total = await session.scalar(select(func.count()).select_from(Outgoing).where(*conditions))
    rows = await session.scalars(
        select(Outgoing)
        .where(*conditions)
        .order_by(Outgoing.id.desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    return Page(list(rows), int(total or 0))


async def attempts_of(
    session: AsyncSession, ids: Sequence[int]
) -> dict[int, list[OutgoingAttempt]]:
    """The attempts of rows, oldest first, by row id."""
    found: dict[int, list[OutgoingAttempt]] = {i: [] for i in ids}
    if not ids:
        return found
    for attempt in await session.scalars(
        select(OutgoingAttempt)
        .where(OutgoingAttempt.outgoing_id.in_(ids))
        .order_by(OutgoingAttempt.outgoing_id, OutgoingAttempt.number, OutgoingAttempt.id)
    ):
        found[attempt.outgoing_id].append(attempt)
    return found


async def resend(session: AsyncSession, row: Outgoing) -> None:
    """Queue a delivered or failed row again, due now, with the same message id."""
    row.state = QUEUED
    row.next_attempt_at = utcnow()
    row.finished_at = None
