"""Fixtures for tests against the real PostgreSQL and Redis (see services.py).

Under CI=true a missing service fails these tests; elsewhere they are skipped.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import orjson
import pytest

from orderbell.broker.memory import MemoryBroker
from orderbell.services.outbox import Outbox
from orderbell.storage.database import Database
from orderbell.storage.schema import upgrade_database
from tests.conftest import require_service
from tests.integration.services import (
    POSTGRES_URLS,
    REDIS_URL,
    PrivateRedis,
    database_name,
    in_thread,
    new_prefix,
    postgres_admin_url,
    postgres_database,
    private_redis,
    redis_available,
)
from tests.support.cluster import cluster
from tests.support.processes import Process
from tests.support.servers import Api, Server


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The shared Redis server."""
    require_service(
        "Redis",
        redis_available(REDIS_URL),
        f"start redis-server on {REDIS_URL} (or set ORDERBELL_TEST_REDIS_URL)",
    )
    return REDIS_URL


@pytest.fixture(scope="session")
def postgres_admin() -> str:
    """A superuser URL of the shared PostgreSQL server."""
    url = postgres_admin_url()
    require_service(
        "PostgreSQL",
        url is not None,
        f"none of {POSTGRES_URLS} answers (or set ORDERBELL_TEST_POSTGRES_URL)",
    )
    assert url is not None
    return url


@pytest.fixture(scope="session")
def migrated_template(postgres_admin: str) -> Iterator[str]:
    """A database migrated once per session, that each test's database copies."""
    with postgres_database(postgres_admin) as url:
        in_thread(upgrade_database, url)
        yield database_name(url)


@pytest.fixture
def postgres_url(postgres_admin: str, migrated_template: str) -> Iterator[str]:
    """A migrated database of this test's own, dropped afterwards (SQLAlchemy asyncpg URL)."""
    with postgres_database(postgres_admin, template=migrated_template) as url:
        yield url


@pytest.fixture
def empty_postgres_url(postgres_admin: str) -> Iterator[str]:
    """An empty database of this test's own, dropped afterwards."""
    with postgres_database(postgres_admin) as url:
        yield url


@pytest.fixture
def prefix() -> str:
    """A Redis channel prefix of this test's own."""
    return new_prefix()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A redis-server this test may kill and restart."""
    require_service(
        "redis-server", shutil.which("redis-server") is not None, "apt-get install redis-server"
    )
    with private_redis(tmp_path) as server:
        yield server


@pytest.fixture
def pair_settings() -> dict[str, str]:
    """Settings of ``pair``'s processes beyond the cluster's fast ones (a module
    overrides this fixture to give its own, by their names in ``Settings``)."""
    return {}


@pytest.fixture
def pair(
    tmp_path: Path, postgres_url: str, redis_url: str, prefix: str, pair_settings: dict[str, str]
) -> Iterator[list[Server]]:
    """Two server processes on this test's PostgreSQL database and Redis prefix."""
    with cluster(
        tmp_path, database_url=postgres_url, broker_url=redis_url, prefix=prefix, **pair_settings
    ) as s:
        yield s


@pytest.fixture
async def apis(pair: list[Server]) -> AsyncIterator[list[Api]]:
    """An HTTP client for each process of ``pair``."""
    clients = [Api(s) for s in pair]
    yield clients
    for client in clients:
        await client.aclose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated SQLite file, then (second run) this test's PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'orderbell.db'}"
        in_thread(upgrade_database, url)
        return url
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
async def processes(database_url: str) -> AsyncIterator[list[Process]]:
    """Two processes' worth of engine, broker and outbox on one database, each
    broker recording the control frames it carried."""
    made = []
    for _ in range(2):
        database = Database(database_url)
        broker = MemoryBroker()
        notices: list[dict[str, object]] = []
        broker.attach(lambda _shop, payload, notices=notices: notices.append(orjson.loads(payload)))
        made.append(Process(database, broker, Outbox(database, broker), notices))
    yield made
    for process in made:
        await process.database.dispose()
