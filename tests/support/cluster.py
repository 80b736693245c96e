"""Several real orderbell processes sharing one database and one broker, and what
tests of them check: every console got every alert, once, in order."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.consoles import Console
from tests.support.servers import Server, free_port, start

# Short intervals, so that a lost connection is noticed and replaced within
# about a second and the relay runs often.
FAST = {
    "ORDERBELL_BROKER_HEALTH_CHECK_SECONDS": "0.5",
    "ORDERBELL_BROKER_TIMEOUT_SECONDS": "1",
    "ORDERBELL_BROKER_RECONNECT_MAX_SECONDS": "0.5",
    "ORDERBELL_RELAY_INTERVAL_SECONDS": "0.5",
    # Shops of tests are mostly unattended: no pause unless a test turns it on.
    "ORDERBELL_UNATTENDED_PAUSE_SECONDS": "0",
    "ORDERBELL_LOG_LEVEL": "warning",
}


def cluster_env(database_url: str, broker_url: str, prefix: str, **settings: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(FAST)
    env.update(
        ORDERBELL_DATABASE_URL=database_url,
        ORDERBELL_BROKER_URL=broker_url,
        ORDERBELL_BROKER_CHANNEL_PREFIX=prefix,
    )
    env.update({f"ORDERBELL_{k.upper()}": v for k, v in settings.items()})
    return env


@contextmanager
def cluster(
    tmp: Path,
    *,
    database_url: str,
    broker_url: str,
    prefix: str,
    count: int = 2,
    **settings: str,
) -> Iterator[list[Server]]:
    """``count`` server processes on one (migrated) database and one broker, stopped at the end."""
    env = cluster_env(database_url, broker_url, prefix, **settings)
    servers = [Server(free_port(), database_url, tmp / f"server{i}.log", env) for i in range(count)]
    try:
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(start, servers))
        yield servers
    finally:
        for server in servers:
            server.stop()


def report(watching: Sequence[Console], count: int, servers: Sequence[Server] = ()) -> str:
    """What each console got wrong, and the servers' warnings: for a failing assertion."""
    lines = []
    for i, console in enumerate(watching):
        seqs = console.seqs
        missing = sorted(set(range(1, count + 1)) - set(seqs))
        twice = sorted({s for s in seqs if seqs.count(s) > 1})
        lines.append(
            f"console {i}: connections to ports {console.connections}, {len(seqs)} alerts, "
            f"missing {missing}, twice {twice}, out of order {seqs != sorted(seqs)}"
        )
    for server in servers:
        noted = [
            line
            for line in server.log_path.read_text(errors="replace").splitlines()
            if "WARNING" in line or "ERROR" in line or "giving up" in line
        ]
        lines.append(f"server {server.port}: " + " | ".join(noted[-15:]))
    return "\n".join(lines)


async def all_received(
    watching: Sequence[Console], count: int, within: float = 20
) -> list[list[int]]:
    """Each console's seqs, once all have ``count`` of them (or ``within`` passed),
    and a moment more, so that a late duplicate is seen too."""
    await asyncio.gather(*(c.wait_for(count, within, settle=0) for c in watching))
    await asyncio.sleep(0.3)
    return [list(c.seqs) for c in watching]


@contextlib.asynccontextmanager
async def consoles(*made: Any) -> Any:
    started = [await c.start() for c in made]
    try:
        yield started
    finally:
        for console in started:
            await console.close()


def expected(count: int) -> list[int]:
    return list(range(1, count + 1))
