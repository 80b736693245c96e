"""Running the app under uvicorn on a listening socket orderbell makes itself.

Making the socket here lets orderbell bound each connection's kernel send
buffer (accepted sockets inherit it from the listening one). Without a
bound, Linux grows a send buffer to megabytes, so a console that stopped
reading could swallow thousands of alerts before the server noticed it was
behind; with it, the console's own bounded queue decides (close code 4408).

It also picks the WebSocket protocol: orderbell's, which hands live
consoles off ASGI (``web.ws_protocol``), when the installed uvicorn and
websockets are releases it works with; uvicorn's own otherwise, with one
warning that says why and what it costs.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import uvicorn
from fastapi import FastAPI

from orderbell.logs import logging_config
from orderbell.protocol import MAX_CONSOLE_MESSAGE
from orderbell.settings import Settings
from orderbell.web.ws_protocol import ConsoleWebSocketProtocol, hand_off_unsupported

log = logging.getLogger(__name__)

BACKLOG = 4096

NO_HAND_OFF = (
    "live consoles are off: %s. Consoles stay on plain ASGI once caught up: they still "
    "get every alert, but each idle console holds an ASGI task and uvicorn's protocol "
    "objects (about 36 KB instead of 2 KB) and every delivery costs more CPU "
    "(docs/performance.md). Install the releases pinned in requirements.lock to turn them on."
)


def listening_socket(
    host: str, port: int, *, send_buffer: int, backlog: int = BACKLOG
) -> socket.socket:
    """A bound, listening TCP socket; ``send_buffer`` 0 leaves the kernel's autotuning on.

    Raises:
        OSError: the address is in use or cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if send_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def console_protocol() -> tuple[type[asyncio.Protocol] | str, str | None]:
    """The WebSocket protocol to serve consoles with, and why it is not orderbell's (or None)."""
    unsupported = hand_off_unsupported()
    if unsupported is None:
        return ConsoleWebSocketProtocol, None
    return "auto", unsupported


def uvicorn_config(app: FastAPI | str, settings: Settings, **extra: Any) -> uvicorn.Config:
    """The server options orderbell runs with (checks the hand-off once, see ``console_protocol``)."""
    ws, unsupported = console_protocol()
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=logging_config(settings.log_level, settings.log_format),
        # Alert frames are small; compressing them costs more CPU and memory
        # per console than it saves on the wire.
        ws_per_message_deflate=False,
        # The server's pings find consoles whose peer vanished without a close.
        ws_ping_interval=settings.heartbeat_seconds,
        ws_ping_timeout=settings.heartbeat_timeout_seconds,
        ws_max_size=MAX_CONSOLE_MESSAGE,
        backlog=BACKLOG,
        ws=ws,
        **extra,
    )
    if unsupported is not None:
        # After uvicorn.Config, which set up the log handlers.
        log.warning(NO_HAND_OFF, unsupported)
    return config


def serve(app: FastAPI, settings: Settings) -> None:
    """Serve ``app`` in this process until interrupted."""
    sock = listening_socket(
        settings.host, settings.port, send_buffer=settings.socket_send_buffer_bytes
    )
    uvicorn.Server(uvicorn_config(app, settings)).run(sockets=[sock])
