"""The cluster helpers, now in ``tests.support``; kept for the tests that import them here."""

from tests.support.cluster import (
    FAST,
    all_received,
    cluster,
    cluster_env,
    consoles,
    expected,
    report,
)
from tests.support.consoles import Console
from tests.support.orders import logged_seqs, place_many, place_orders
from tests.support.servers import start

__all__ = [
    "FAST",
    "Console",
    "all_received",
    "cluster",
    "cluster_env",
    "consoles",
    "expected",
    "logged_seqs",
    "place_many",
    "place_orders",
    "report",
    "start",
]
