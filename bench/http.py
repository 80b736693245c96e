"""A small HTTP/1.1 client on asyncio streams: keep-alive connections and a pool of them.

Cheaper per request than a general client, which matters when the driver
shares two cores with the server it measures.
"""

from __future__ import annotations

import asyncio
import contextlib


class HttpError(Exception):
    """The server closed the connection or answered something unreadable."""

    def __init__(self, message: str, *, before_response: bool = False) -> None:
        super().__init__(message)
        self.before_response = before_response


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
        """Send a request (``head`` without the final blank line); (status, body).

        A kept-alive connection the server closed while idle (uvicorn does after
        5 s) is opened again and the request sent once more: nothing of the
        first attempt was read, so the server never saw it.
        """
        reused = self.writer is not None
        try:
            return await self._exchange(head, body)
        except HttpError as exc:
            if not (reused and exc.before_response):
                raise
        return await self._exchange(head, body)

    async def connect(self) -> None:
        """Open the connection now (it is opened on first use otherwise)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def _exchange(self, head: bytes, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            await self.connect()
        assert self.reader is not None
        length = b"Content-Length: %d\r\n\r\n" % len(body)
        try:
            self.writer.write(head + length + body)
            raw = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            self.close()
            partial = getattr(exc, "partial", b"")
            raise HttpError(f"connection lost: {exc!r}", before_response=not partial) from exc
        lines = raw.split(b"\r\n")
        try:
            status = int(lines[0].split(b" ", 2)[1])
        except (IndexError, ValueError) as exc:
            self.close()
            raise HttpError(f"bad status line {lines[0]!r}") from exc
        size = 0
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                size = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        data = await self.reader.readexactly(size) if size else b""
        if close:
            self.close()
        return status, data

    def close(self) -> None:
        if self.writer is not None:
            with contextlib.suppress(Exception):
                self.writer.close()
        self.reader = self.writer = None


class Pool:
    """Up to ``size`` keep-alive connections to one server; requests beyond that wait."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self._idle: list[Connection] = [Connection(host, port) for _ in range(size)]
        self._free = asyncio.Semaphore(size)

    async def request(self, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
        async with self._free:
            connection = self._idle.pop()
            try:
                return await connection.request(head, body)
            except BaseException:
                connection.close()
                raise
            finally:
                self._idle.append(connection)

    async def open(self, at_once: int = 64) -> None:
        """Open every connection before the first request, ``at_once`` at a time."""
        for start in range(0, len(self._idle), at_once):
            await asyncio.gather(*(c.connect() for c in self._idle[start : start + at_once]))

    def close(self) -> None:
        for connection in self._idle:
            connection.close()


def head(method: str, target: str, port: int, headers: dict[str, str] | None = None) -> bytes:
    """A request head ending just before Content-Length (which ``request`` adds)."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n").encode()
