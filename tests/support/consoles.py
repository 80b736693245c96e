"""Test consoles that reconnect by themselves and record every frame they get.

``RecordingConsole`` connects, and after any drop reconnects with
``since=<last seq>`` (to the next server of its list if ``failover`` is set,
as a console behind a proxy would land on another process). Two faces of
it keep the names the tests know: ``ResumingConsole`` (one server, started
without waiting) and ``Console`` (a cluster's servers, started once open).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import orjson
import websockets

from tests.support.polling import PATIENCE, wait_until
from tests.support.servers import Server


class RecordingConsole:
    """A merchant console that records what it receives and resumes after any drop.

    ``wire`` keeps every alert frame as received (to check that the server
    sends none twice), ``controls`` the other frames, ``close_codes`` the
    codes of the closes it saw, ``connections`` the port of each connection
    made. ``protocol`` 2 asks for control frames; ``None`` or 1 gets alert
    frames only. ``attempts`` bounds the connections it tries.
    """

    def __init__(
        self,
        servers: Server | Sequence[Server],
        token: str,
        *,
        protocol: int | None = 2,
        first: int = 0,
        failover: bool = False,
        sid: str | None = None,
        always_since: bool = False,
        attempts: int | None = None,
    ) -> None:
        self.servers = [servers] if isinstance(servers, Server) else list(servers)
        self.token = token
        self.protocol = protocol
        self.current = first
        self.failover = failover
        self.sid = sid or f"c{id(self)}"
        self.always_since = always_since
        self.attempts = attempts
        self.wire: list[dict[str, Any]] = []
        self.controls: list[dict[str, Any]] = []
        self.close_codes: list[int | None] = []
        self.connections: list[int] = []
        self._open = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def frames(self) -> list[dict[str, Any]]:
        """The alert frames received, in order (``wire``)."""
        return self.wire

    @property
    def seqs(self) -> list[int]:
        return [int(f["seq"]) for f in self.wire]

    @property
    def last_seq(self) -> int:
        return int(self.wire[-1]["seq"]) if self.wire else 0

    @property
    def hellos(self) -> int:
        """How many times the server said it registered this console (protocol 2):
        an alert raised after that reaches it live."""
        return sum(1 for f in self.controls if f.get("type") == "hello")

    @property
    def connects(self) -> int:
        """How many connections were opened."""
        return len(self.connections)

    def launch(self) -> None:
        """Start connecting in the background."""
        self._task = asyncio.create_task(self._run())

    async def opened(self, within: float = PATIENCE) -> None:
        """Wait until the first connection is open."""
        await asyncio.wait_for(self._open.wait(), within)

    async def received(self, count: int, within: float = PATIENCE) -> list[int]:
        """The seqs received, once there are ``count`` of them or ``within`` passed."""
        with contextlib.suppress(AssertionError):
            await wait_until(lambda: len(self.wire) >= count, within, what=f"{count} alerts")
        return self.seqs

    async def halt(self) -> None:
        """Stop reconnecting and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _params(self) -> dict[str, str]:
        params = {"protocol": "2"} if self.protocol == 2 else {}
        if self.wire or self.always_since:
            params["since"] = str(self.last_seq)
        return params

    async def _run(self) -> None:
        tries = failures = 0
        while self.attempts is None or tries < self.attempts:
            tries += 1
            server = self.servers[self.current]
            try:
                async with websockets.connect(
                    server.ws_url(self.token, sid=self.sid, **self._params()), open_timeout=3
                ) as ws:
                    self.connections.append(server.port)
                    self._open.set()
                    failures = 0
                    async for message in ws:
                        frame = orjson.loads(message)
                        if isinstance(frame.get("type"), int):
                            self.wire.append(frame)
                        else:
                            self.controls.append(frame)
                    self.close_codes.append(ws.close_code)
            except (OSError, TimeoutError, websockets.WebSocketException) as exc:
                self.close_codes.append(getattr(getattr(exc, "rcvd", None), "code", None))
            if self.failover:
                self.current = (self.current + 1) % len(self.servers)
            await asyncio.sleep(min(0.05 * 2**failures, 0.5))
            failures += 1


class ResumingConsole(RecordingConsole):
    """A console of one server: ``start()`` returns at once, ``wait_for`` waits for alerts."""

    def __init__(self, server: Server, token: str, protocol: int = 2) -> None:
        super().__init__(server, token, protocol=protocol, sid="console")

    @property
    def server(self) -> Server:
        return self.servers[0]

    def start(self) -> ResumingConsole:
        self.launch()
        return self

    async def stop(self) -> None:
        await self.halt()

    async def wait_for(self, count: int, within: float = 30) -> None:
        await self.received(count, within)


class Console(RecordingConsole):
    """A console of a cluster: it records the seq of every alert frame and, when its
    connection ends, reconnects with ``since`` (to the next server if ``failover``),
    a bounded number of times. ``await start()`` returns once it is connected."""

    def __init__(
        self, servers: Sequence[Server], token: str, *, first: int = 0, failover: bool = False
    ) -> None:
        super().__init__(
            servers,
            token,
            protocol=None,
            first=first,
            failover=failover,
            always_since=True,
            attempts=50,
        )

    async def start(self, within: float = 10) -> Console:
        self.launch()
        await self.opened(within)
        return self

    async def wait_for(self, count: int, within: float = 20, settle: float = 0.3) -> list[int]:
        """The seqs received, once there are ``count`` of them or ``within`` seconds
        passed, and then ``settle`` seconds more, so that a late duplicate is seen too."""
        await self.received(count, within)
        await asyncio.sleep(settle)
        return self.seqs

    async def close(self) -> None:
        await self.halt()
