"""What the reference servers share: the alert frame, options, the event loop."""

from __future__ import annotations

import argparse
import asyncio
import itertools
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

_seq = itertools.count(1)


def alert_frame(order_id: int) -> bytes:
    """An alert frame like orderbell's (same fields, about the same size)."""
    seq = next(_seq)
    number = f"B{seq:012d}"
    return orjson.dumps(
        {
            "type": 1,
            "orderId": order_id,
            "content": f"订单号：{number} bench",
            "seq": seq,
            "shopId": 1,
            "orderNumber": number,
            "createdAt": datetime.now(UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
            "source": "api",
        }
    )


def order_id_of(target: str) -> int:
    """The ``oid`` of a ``/trigger?oid=...`` request target (0 if missing)."""
    values = parse_qs(urlsplit(target).query).get("oid") or ["0"]
    return int(values[0])


def options(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--heartbeat", type=float, default=0.0, help="seconds between pings (0: none)"
    )
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    parser.add_argument("--backlog", type=int, default=4096)
    parser.add_argument(
        "--sndbuf", type=int, default=0, help="raw: SO_SNDBUF of the listening socket (0: kernel's)"
    )
    parser.add_argument(
        "--broadcast", action="store_true", help="websockets: broadcast() instead of a send loop"
    )
    parser.add_argument(
        "--ws",
        default="auto",
        help="starlette: uvicorn's WebSocket implementation (auto, websockets, websockets-sansio)",
    )
    return parser.parse_args()


def run(main: Coroutine[Any, Any, None], loop: str) -> None:
    """Run ``main`` on uvloop (as orderbell's uvicorn does when it is installed) or asyncio."""
    if loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            asyncio.run(main)
            return
        uvloop.run(main)
    else:
        asyncio.run(main)
