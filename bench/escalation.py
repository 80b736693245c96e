"""The escalation ladder's sweep against many waiting orders, on SQLite.

``python -m bench.escalation`` (or ``make bench BENCH_ARGS="--scenario escalation"``)
fills a fresh SQLite file with ``--orders`` paid orders that nobody has accepted
(100,000 by default, spread over 100 shops), then times single passes of the
sweep (``services.escalation.sweep``, as every server process runs it):

- with nothing due (every order's next step is minutes away): the pass a server
  makes every second almost always;
- with N orders due at once, a third each for the warning, a notification and
  the auto-cancel (their frames go to an in-process broker, as in one process
  with no console connected; events are not written, as without webhooks).

Each pass is timed from its start to its last commit; the best of a few runs
is kept for the idle pass. Printed as a table; also returned as rows for the
harness (``bench.run``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

if __package__ in (None, ""):  # run as a script: python bench/escalation.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import Table, func, insert, select, update

from orderbell.broker.memory import MemoryBroker
from orderbell.domain.escalation import Ladder
from orderbell.services import escalation
from orderbell.services.accounts import create_shop, register_customer
from orderbell.services.outbox import Outbox
from orderbell.storage import sqlite_inline
from orderbell.storage.database import Database
from orderbell.storage.schema import upgrade_database
from orderbell.storage.tables import Order, utcnow

DEFAULTS = Ladder(
    warn_seconds=60, notify_seconds=180, notify_repeat_seconds=300, auto_cancel_seconds=900
)
SHOPS = 100
_ORDERS = cast(Table, Order.__table__)


async def seed(db: Database, orders: int) -> None:
    """``orders`` paid orders waiting for their shop, none due yet."""
    shops = [await create_shop(db, f"Bench Kitchen {i}") for i in range(SHOPS)]
    customer = await register_customer(db, phone="13900000000", password="secret123", name="顾客")
    now = utcnow()
    rows = [
        {
            "shop_id": shops[i % SHOPS].id,
            "number": f"bench{i:09d}",
            "status": 2,
            "pay_status": 1,
            "user_id": customer.id,
            "address_book_id": 1,
            "order_time": now,
            "checkout_time": now,
            "amount": Decimal("30.00"),
            "escalation_due_at": now + timedelta(minutes=10),
        }
        for i in range(orders)
    ]
    async with db.transaction() as session:
        for start in range(0, len(rows), 10_000):
            await session.execute(insert(_ORDERS), rows[start : start + 10_000])


async def make_due(db: Database, due: int) -> None:
    """Put every order back to waiting, none due; then ``due`` of them due now, a third
    each past their warning, their first notification and their auto-cancel."""
    now = utcnow()
    async with db.transaction() as session:
        await session.execute(
            update(_ORDERS).values(
                status=2,
                pay_status=1,
                cancel_reason=None,
                checkout_time=now,
                escalation_level=0,
                escalation_notified=0,
                escalation_due_at=now + timedelta(minutes=10),
            )
        )
        if due:
            ids = list(await session.scalars(select(Order.id).order_by(Order.id).limit(due)))
            for k, waited in enumerate((61, 181, 901)):
                part = ids[k::3]
                paid = now - timedelta(seconds=waited)
                for start in range(0, len(part), 5_000):
                    await session.execute(
                        update(_ORDERS)
                        .where(_ORDERS.c.id.in_(part[start : start + 5_000]))
                        .values(checkout_time=paid, escalation_due_at=paid)
                    )


async def timed(work: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall-clock and CPU seconds of ``work`` (this process's CPU: on a busy machine
    the wall clock also counts the time other processes had the cores)."""
    began, cpu = time.perf_counter(), time.process_time()
    result = await work()
    return time.perf_counter() - began, time.process_time() - cpu, result


async def measure(path: Path, orders: int, due_counts: list[int]) -> list[dict[str, Any]]:
    url = f"sqlite+aiosqlite:///{path}"
    await asyncio.to_thread(upgrade_database, url)
    db = Database(url, inline_sqlite=sqlite_inline.unsupported_for(url) is None)
    outbox = Outbox(db, MemoryBroker())
    rows: list[dict[str, Any]] = []
    try:
        began = time.perf_counter()
        await seed(db, orders)
        seeded = time.perf_counter() - began
        async with db.sessions() as session:
            waiting = int(await session.scalar(select(func.count()).select_from(Order)) or 0)
        print(f"{waiting:,} waiting orders seeded in {seeded:.1f} s", flush=True)

        idle, idle_cpu = [], []
        for _ in range(20):
            seconds, cpu, tally = await timed(lambda: escalation.sweep(outbox, DEFAULTS))
            assert tally.looked == 0
            idle.append(seconds)
            idle_cpu.append(cpu)
        rows.append(
            {
                "orders": waiting,
                "due": 0,
                "pass_ms": round(min(idle) * 1000, 2),
                "median_ms": round(statistics.median(idle) * 1000, 2),
                "cpu_ms": round(min(idle_cpu) * 1000, 2),
                "warned": 0,
                "notified": 0,
                "cancelled": 0,
            }
        )
        for due in due_counts:
            await make_due(db, due)
            seconds, cpu, tally = await timed(lambda: escalation.sweep(outbox, DEFAULTS))
            assert tally.warned + tally.notified + tally.cancelled == due, tally
            rows.append(
                {
                    "orders": waiting,
                    "due": due,
                    "pass_ms": round(seconds * 1000, 1),
                    "median_ms": None,
                    "cpu_ms": round(cpu * 1000, 1),
                    "warned": tally.warned,
                    "notified": tally.notified,
                    "cancelled": tally.cancelled,
                    "orders_per_s": round(due / seconds),
                }
            )
            print(table(rows[-1:]), flush=True)
    finally:
        await db.dispose()
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table."""
    head = (
        "| waiting orders | due | one pass (ms) | median of 20 (ms) | CPU (ms) "
        "| warned | notified | cancelled | due orders/s |"
    )
    lines = [head, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(
            f"| {r['orders']:,} | {r['due']:,} | {r['pass_ms']} | {r['median_ms'] or '-'} | "
            f"{r['cpu_ms']} | "
            f"{r['warned']:,} | {r['notified']:,} | {r['cancelled']:,} | "
            f"{r.get('orders_per_s') or '-'} |"
        )
    return "\n".join(lines)


async def scenario(
    config: Any, work: Path, _binary: Path, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """The ``escalation`` scenario of ``bench.run``."""
    quick = getattr(config, "escalation_quick", False)
    orders, dues = (10_000, [300, 3_000]) if quick else (100_000, [1_000, 10_000, 100_000])
    log(f"escalation sweep: {orders:,} waiting orders on SQLite")
    return await measure(work / "escalation.db", orders, dues)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.escalation", description=__doc__)
    parser.add_argument("--orders", type=int, default=100_000, help="waiting orders (100000)")
    parser.add_argument(
        "--due",
        default="1000,10000,100000",
        help="orders due at once in the timed passes, comma-separated (1000,10000,100000)",
    )
    args = parser.parse_args(argv)
    dues = [int(x) for x in args.due.split(",") if x]
    with tempfile.TemporaryDirectory(prefix="orderbell-escalation-") as folder:
        rows = asyncio.run(measure(Path(folder) / "escalation.db", args.orders, dues))
    print()
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
