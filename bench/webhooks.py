"""The webhooks scenario: deliveries per second from one orderbell process, and
whether a slow or dead endpoint slows the deliveries to the others.

Each run seeds outgoing rows the way a payment writes them (events through
``storage.outgoing.record_events``, to endpoints of the whole deployment)
into a SQLite database while no server runs, then starts one orderbell
process, whose dispatcher finds them at once, and counts what reaches
receivers in this process: a minimal asyncio HTTP/1.1 server that answers
204 at once (``fast``), one that reads requests and never answers (a black
hole: every attempt waits out the 5 s timeout), and a port where nothing
listens (``dead``: connections refused). The rate is the fast endpoints'
deliveries over the time from their first to their last.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import procs, systems

Log = Callable[[str], None]


@dataclass
class Sink:
    """An HTTP/1.1 receiver on 127.0.0.1; ``answer`` False holds every request unanswered."""

    answer: bool = True
    port: int = 0
    #: (monotonic time, path, webhook-id) of every request answered
    got: list[tuple[float, str, str]] = field(default_factory=list)
    #: set when ``expect`` requests have been answered
    done: asyncio.Event = field(default_factory=asyncio.Event)
    expect: int = 0
    held: int = 0
    _server: asyncio.Server | None = None

    async def start(self) -> Sink:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _SinkProtocol(self), "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class _SinkProtocol(asyncio.Protocol):
    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in head[1:])
            }
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            if not self.sink.answer:
                self.sink.held += 1
                continue
            path = head[0].split(" ")[1] if " " in head[0] else ""
            self.sink.got.append((time.monotonic(), path, headers.get("webhook-id", "")))
            if len(self.sink.got) >= self.sink.expect:
                self.sink.done.set()
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")


async def _seed(url: str, plan: list[tuple[str, int, int]]) -> list[int]:
    """Endpoints of the whole deployment, then ``count`` events of each type:
    (url, count, endpoints at that url) per line, each line its own event type."""
    from orderbell.domain.events import Event, EventType
    from orderbell.services import webhooks
    from orderbell.storage import outgoing
    from orderbell.storage.database import Database

    types = [EventType.ORDER_PAID, EventType.ORDER_ACCEPTED, EventType.REMINDER_CREATED]
    db = Database(url)
    ids: list[int] = []
    try:
        for (target, _, copies), kind in zip(plan, types, strict=False):
            for copy in range(copies):
                added = await webhooks.add(
                    db,
                    shop_id=None,
                    url=f"{target}{copy}" if copies > 1 else target,
                    events=[kind.value],
                    allow_private=True,
                )
                ids.append(added.endpoint.id)
        # The black hole's rows first: the earliest due, the first a claim meets.
        for (_, count, _), kind in zip(plan, types, strict=False):
            async with db.transaction() as session:
                for start in range(0, count, 500):
                    events = [
                        Event(kind, None, {"orderNumber": f"B{start + i}", "amount": "28.00"})
                        for i in range(min(500, count - start))
                    ]
                    await outgoing.record_events(session, events)
    finally:
        await db.dispose()
    return ids


async def _remove(url: str, ids: list[int]) -> None:
    from orderbell.services import webhooks
    from orderbell.storage.database import Database

    db = Database(url)
    try:
        for endpoint_id in ids:
            await webhooks.remove(db, None, endpoint_id)
    finally:
        await db.dispose()


async def webhooks(config: Any, work: Path, binary: Path, log: Log) -> list[dict[str, Any]]:
    """Deliveries/s to one and to four local endpoints, then to one beside a dead
    endpoint and beside a black hole, each after a run of the one alone."""
    count = config.webhook_rows
    other = config.webhook_other_rows
    url = f"sqlite+aiosqlite:///{work / 'webhooks.db'}"
    env = systems.orderbell_env(url, secrets.token_urlsafe(32), webhook_allow_private="true")
    await asyncio.to_thread(systems.migrate, env, work)
    fast = await Sink().start()
    hole = await Sink(answer=False).start()
    dead = f"http://127.0.0.1:{procs.free_port()}/hook"
    runs = [
        ("one endpoint", [(fast.url("/a"), count, 1)], None),
        ("four endpoints (each event to all)", [(fast.url("/b"), count // 4, 4)], None),
        ("one endpoint, again", [(fast.url("/c"), count, 1)], None),
        (
            "one endpoint beside a dead one (refused)",
            [(dead, other, 1), (fast.url("/d"), count, 1)],
            "dead",
        ),
        ("one endpoint, again", [(fast.url("/e"), count, 1)], None),
        (
            "one endpoint beside a black hole (5 s timeouts)",
            [(hole.url(), other, 1), (fast.url("/f"), count, 1)],
            "black hole",
        ),
        ("one endpoint, again", [(fast.url("/g"), count, 1)], None),
    ]
    rows: list[dict[str, Any]] = []
    try:
        for label, plan, beside in runs:
            ids = await _seed(url, plan)
            # The last line of the plan is the fast endpoints'.
            expected = plan[-1][1] * plan[-1][2]
            before = len(fast.got)
            held_before = hole.held
            fast.expect = before + expected
            fast.done.clear()
            _, process = await systems.start_orderbell_process(env, work, "webhooks")
            try:
                cpu0 = procs.cpu_seconds(process.pid)
                t0 = time.monotonic()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(config.drain_timeout + count / 100):
                        await fast.done.wait()
                elapsed = time.monotonic() - t0
                cpu = procs.cpu_seconds(process.pid) - cpu0
            finally:
                procs.stop(process)
            got = fast.got[before:]
            ids_seen = [(path, m) for _, path, m in got]
            span = (got[-1][0] - got[0][0]) if len(got) > 1 else float("nan")
            rate = (len(got) - 1) / span if len(got) > 1 and span > 0 else None
            row: dict[str, Any] = {
                "label": label,
                "beside": beside,
                "rows": expected,
                "delivered": len(got),
                "twice": len(ids_seen) - len(set(ids_seen)),
                "seconds": span,
                "deliveries_per_s": rate,
                "vs_alone": None,  # below, once the run after it is done
                "held_by_black_hole": hole.held - held_before if beside == "black hole" else None,
                "server_cpu_pct": cpu / elapsed * 100 if elapsed > 0 else None,
                "server_cpu_s": cpu,
                # Steadier than the rate on a shared machine: what one core would do.
                "deliveries_per_cpu_s": len(got) / cpu if cpu > 0 else None,
            }
            if len(got) < expected:
                row["error"] = f"only {len(got)} of {expected} delivered"
            rows.append(row)
            log(
                f"  {label}: {len(got)}/{expected} in {span:.2f} s = "
                f"{rate or 0:,.0f}/s ({row['deliveries_per_cpu_s'] or 0:,.0f} per CPU-second), "
                f"twice {row['twice']}"
            )
            await _remove(url, ids)
    finally:
        fast.close()
        hole.close()
    _compare_with_alone(rows)
    return rows


def _compare_with_alone(rows: list[dict[str, Any]]) -> None:
    """Each run beside another endpoint against the runs of the one endpoint alone
    just before and just after it (their mean): the machine's speed drifts from
    run to run, and a run between two measures it against both."""
    alone = [i for i, r in enumerate(rows) if r["beside"] is None and "four" not in str(r["label"])]
    for i, row in enumerate(rows):
        rate = row["deliveries_per_s"]
        if not row["beside"] or not rate:
            continue
        near = [j for j in alone if j in (i - 1, i + 1) and rows[j]["deliveries_per_s"]]
        if near:
            baseline = sum(rows[j]["deliveries_per_s"] for j in near) / len(near)
            row["vs_alone"] = rate / baseline
