"""Tools of the attacking tests: servers with chosen settings, tokens that should
not work, and checks that the database holds nothing half-written."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt

from tests.support.servers import Server, running_server

#: The secret the servers of these tests sign with, so that tests can make
#: tokens the server must refuse (expired, with a bad role) yet that are
#: correctly signed.
SECRET = "security-tests-secret-4f1c9a7e2b-5d8c01aa"
OTHER_SECRET = "someone-elses-secret-0b8e5d3c71-77e2a9f3"

#: Order states that can exist: waiting for payment is unpaid, the middle
#: ones are paid, a cancelled one is unpaid or refunded.
LEGAL_STATES = {(1, 0), (2, 1), (3, 1), (4, 1), (5, 1), (6, 0), (6, 2)}


@contextmanager
def serve(
    tmp: Path, *, log_level: str = "warning", database_url: str | None = None, **settings: str
) -> Iterator[Server]:
    """A migrated database (a SQLite file unless ``database_url`` names another) and
    an orderbell server on it, signing with SECRET, without this run's ORDERBELL_*
    variables."""
    with running_server(
        tmp, database_url=database_url, log_level=log_level, secret=SECRET, clean=True, **settings
    ) as server:
        yield server


def token(
    role: str,
    user_id: int,
    shop: int | None = None,
    *,
    secret: str = SECRET,
    expires_in: timedelta = timedelta(hours=1),
    algorithm: str = "HS256",
) -> str:
    """A token with the claims the server issues, signed as asked."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "role": role,
        "iat": now,
        "exp": now + expires_in,
    }
    if shop is not None:
        claims["shop"] = shop
    if algorithm == "none":
        return jwt.encode(claims, None, algorithm="none")
    return jwt.encode(claims, secret, algorithm=algorithm)


def database(server: Server) -> sqlite3.Connection:
    """A plain connection to the server's SQLite file, to look at what was stored."""
    path = server.database_url.split(":///", 1)[1]
    return sqlite3.connect(path, timeout=30)


def rows(server: Server, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """The rows of one query on the server's database."""
    with closing(database(server)) as conn:
        return list(conn.execute(sql, params))


def broken_invariants(server: Server, *, max_reminders: int | None = None) -> dict[str, list[Any]]:
    """Everything in the database that a half-done or forbidden write would leave.

    Empty lists everywhere mean: every order has its dishes, every paid order
    has exactly one new-order alert and every unpaid one none, alerts belong
    to their order's shop, each shop's seqs have no gaps, and every order is
    in a state that can exist.
    """
    found: dict[str, list[Any]] = {
        "orders without dishes": rows(
            server,
            "SELECT id FROM orders o WHERE NOT EXISTS "
            "(SELECT 1 FROM order_detail d WHERE d.order_id = o.id)",
        ),
        "paid orders without exactly one new-order alert": rows(
            server,
            "SELECT o.id, (SELECT COUNT(*) FROM alert a WHERE a.order_id = o.id AND a.type = 1) n "
            "FROM orders o WHERE o.checkout_time IS NOT NULL AND n != 1",
        ),
        "new-order alerts of unpaid orders": rows(
            server,
            "SELECT a.id FROM alert a JOIN orders o ON o.id = a.order_id "
            "WHERE a.type = 1 AND o.checkout_time IS NULL",
        ),
        "alerts in another shop than their order": rows(
            server,
            "SELECT a.id FROM alert a JOIN orders o ON o.id = a.order_id "
            "WHERE a.shop_id != o.shop_id",
        ),
        "reminders of orders never paid": rows(
            server,
            "SELECT a.id FROM alert a JOIN orders o ON o.id = a.order_id "
            "WHERE a.type = 2 AND o.checkout_time IS NULL",
        ),
        "shops whose seqs have gaps": rows(
            server,
            "SELECT s.id, s.alert_seq, COUNT(a.id), MAX(a.seq) FROM shop s "
            "LEFT JOIN alert a ON a.shop_id = s.id GROUP BY s.id "
            "HAVING COUNT(a.id) != s.alert_seq OR COALESCE(MAX(a.seq), 0) != s.alert_seq",
        ),
        "orders in impossible states": [
            r
            for r in rows(server, "SELECT id, status, pay_status FROM orders")
            if (r[1], r[2]) not in LEGAL_STATES
        ],
    }
    if max_reminders is not None:
        found["orders with too many reminders"] = rows(
            server,
            "SELECT order_id, COUNT(*) FROM alert WHERE type = 2 AND order_id IS NOT NULL "
            "GROUP BY order_id HAVING COUNT(*) > ?",
            max_reminders,
        )
    return {k: v for k, v in found.items() if v}


def refused(response: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    """Assert an error envelope with ``status`` whose message holds ``words``; return it."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "msg", "data"}, body
    assert body["code"] == 0, body
    assert isinstance(body["msg"], str) and len(body["msg"]) >= 10, body
    for word in words:
        assert word.lower() in body["msg"].lower(), (word, body["msg"])
    return body


def headers_for(role: str, value: str | None) -> Mapping[str, str]:
    """The header a token of ``role`` travels in (the original's names)."""
    if value is None:
        return {}
    return {"token": value} if role == "merchant" else {"authentication": value}
