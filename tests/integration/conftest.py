"""Fixtures for tests against the real PostgreSQL and Redis (see services.py).

Under CI=true a missing service fails these tests; elsewhere they are skipped.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

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
