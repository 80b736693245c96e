"""The seed's design on ``websockets``: a loop awaiting ``send`` per console,
or (``--broadcast``) the library's ``broadcast()``, which writes without awaiting.

Compression off (``compression=None``), backlog 4096. HTTP triggers are
answered from ``process_request``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from http import HTTPStatus

from websockets.asyncio.server import Request, Response, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

from bench.servers.common import alert_frame, options, order_id_of, run

consoles: set[ServerConnection] = set()
tasks: set[asyncio.Task[None]] = set()
BROADCAST = "--broadcast" in sys.argv


async def console(connection: ServerConnection) -> None:
    consoles.add(connection)
    try:
        async for _ in connection:
            pass
    except ConnectionClosed:
        pass
    finally:
        consoles.discard(connection)


async def fan_out(text: str) -> None:
    for connection in list(consoles):
        try:
            await connection.send(text)
        except ConnectionClosed:
            consoles.discard(connection)


def process_request(connection: ServerConnection, request: Request) -> Response | None:
    if request.path.startswith("/trigger"):
        text = alert_frame(order_id_of(request.path)).decode()
        if BROADCAST:
            broadcast(consoles, text)
        else:
            task = asyncio.get_running_loop().create_task(fan_out(text))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        return connection.respond(HTTPStatus.OK, "ok\n")
    if request.path.startswith("/healthz"):
        return connection.respond(HTTPStatus.OK, "ok\n")
    return None


async def main(args: argparse.Namespace) -> None:
    async with serve(
        console,
        args.host,
        args.port,
        compression=None,
        process_request=process_request,
        ping_interval=args.heartbeat or None,
        ping_timeout=args.heartbeat or None,
        backlog=args.backlog,
    ) as server:
        await server.serve_forever()


if __name__ == "__main__":
    arguments = options(__doc__ or "")
    run(main(arguments), arguments.loop)
