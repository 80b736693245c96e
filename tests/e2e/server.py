"""The test servers and their client, now in ``tests.support``; kept for the tests
that import them here."""

from tests.support.frames import collect, silence
from tests.support.servers import (
    PASSWORD,
    Api,
    Server,
    ShopKit,
    free_port,
    migrate,
    new_shop,
    running_server,
    second_process,
    server_env,
    start,
)

__all__ = [
    "PASSWORD",
    "Api",
    "Server",
    "ShopKit",
    "collect",
    "free_port",
    "migrate",
    "new_shop",
    "running_server",
    "second_process",
    "server_env",
    "silence",
    "start",
]
