"""Shared fixtures: real server processes on free loopback ports, and clients for them."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.receiver import Receiver
from tests.support.servers import Api, Server


def require_service(name: str, available: bool, how: str) -> None:
    """Skip when a service the test needs is missing, except under CI, where it fails."""
    if available:
        return
    message = f"{name} is not available: {how}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium, which drives the console page tests."""
    path = shutil.which("chromium") or "/usr/bin/chromium"
    require_service("chromium", os.path.exists(path), "apt-get install -y chromium")
    return path


@pytest.fixture
async def api(server: Server) -> AsyncIterator[Api]:
    """An HTTP client of the folder's ``server`` fixture."""
    client = Api(server)
    yield client
    await client.aclose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on a free loopback port, verifying what comes."""
    r = Receiver().start()
    yield r
    r.stop()
