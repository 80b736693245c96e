"""The usual stack: uvicorn + Starlette, awaiting ``websocket.send_text`` per console.

A trigger starts one task that walks the consoles and awaits each send, as
most FastAPI/Starlette "broadcast" examples do. uvicorn runs with its
default WebSocket implementation, permessage-deflate off, backlog 4096.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from bench.servers.common import alert_frame, options, run

consoles: set[WebSocket] = set()
tasks: set[asyncio.Task[None]] = set()


async def console(websocket: WebSocket) -> None:
    await websocket.accept()
    consoles.add(websocket)
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
    finally:
        consoles.discard(websocket)


async def fan_out(text: str) -> None:
    for websocket in list(consoles):
        try:
            await websocket.send_text(text)
        except Exception:
            consoles.discard(websocket)


async def trigger(request: Request) -> PlainTextResponse:
    text = alert_frame(int(request.query_params.get("oid", "0"))).decode()
    task = asyncio.get_running_loop().create_task(fan_out(text))
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    return PlainTextResponse("ok\n")


async def healthz(request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok\n")


app = Starlette(
    routes=[
        Route("/trigger", trigger),
        Route("/healthz", healthz),
        WebSocketRoute("/ws/{sid}", console),
    ]
)


async def main(args: argparse.Namespace) -> None:
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        lifespan="off",
        ws_per_message_deflate=False,
        ws_ping_interval=args.heartbeat or None,
        ws_ping_timeout=args.heartbeat or None,
        backlog=args.backlog,
        ws=args.ws,
    )
    with contextlib.suppress(asyncio.CancelledError):
        await uvicorn.Server(config).serve()


if __name__ == "__main__":
    arguments = options(__doc__ or "")
    run(main(arguments), arguments.loop)
