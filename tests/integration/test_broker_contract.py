"""The broker contract, one scenario over every implementation, plus what only Redis
can do: several processes, a Redis that goes silent, away, or is not there yet."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from orderbell.broker import Broker, create_broker
from orderbell.broker.redis import Backoff, RedisBroker
from tests.e2e.server import free_port
from tests.integration.services import PrivateRedis, drop_redis_clients


class Inbox:
    """What a broker delivered, in order, and how often it reconnected."""

    def __init__(self, broker: Broker) -> None:
        self.messages: list[tuple[int, bytes]] = []
        self.reconnects = 0
        broker.attach(lambda shop, payload: self.messages.append((shop, payload)))
        broker.on_reconnect(self._reconnected)

    async def _reconnected(self) -> None:
        self.reconnects += 1

    async def next(self, count: int, within: float = 5) -> list[tuple[int, bytes]]:
        """The next ``count`` messages (fewer if they do not come ``within`` seconds)."""
        deadline = asyncio.get_running_loop().time() + within
        while len(self.messages) < count and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        taken, self.messages = self.messages[:count], self.messages[count:]
        return taken

    async def reconnected(self, more_than: int, within: float = 10) -> bool:
        deadline = asyncio.get_running_loop().time() + within
        while self.reconnects <= more_than and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        return self.reconnects > more_than


@dataclass
class Backend:
    """How to make a broker of one kind, and how to make it lose its connection."""

    url: str
    prefix: str = "orderbell"
    # Returns whether the broker lost a connection (memory:// has none to lose).
    interrupt: Callable[[], Awaitable[bool]] = field(default=lambda: _nothing())
    made: list[Broker] = field(default_factory=list)

    def make(self) -> Broker:
        broker = create_broker(
            self.url, channel_prefix=self.prefix, health_check_interval=0.3, timeout=0.5
        )
        self.made.append(broker)
        return broker


async def _nothing() -> bool:
    return False


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        made = Backend("memory://")
    else:
        url: str = request.getfixturevalue("redis_url")
        prefix: str = request.getfixturevalue("prefix")

        async def interrupt() -> bool:
            return await drop_redis_clients(url, prefix) > 0

        made = Backend(url, prefix, interrupt)
    yield made
    for broker in made.made:
        await broker.disconnect()


async def test_publish_subscribe_unsubscribe_and_reconnect(backend: Backend) -> None:
    broker = backend.make()
    inbox = Inbox(broker)
    await broker.connect()
    await broker.ping()

    await broker.subscribe(1)
    await broker.publish(1, b"one-a")
    await broker.publish(2, b"two-a")  # nobody here listens to shop 2
    await broker.publish(1, b"one-b")
    assert await inbox.next(2) == [(1, b"one-a"), (1, b"one-b")]

    await broker.subscribe(2)
    await broker.publish(2, b"two-b")
    assert await inbox.next(1) == [(2, b"two-b")]

    await broker.unsubscribe(1)
    await broker.publish(1, b"one-c")
    await broker.publish(2, b"two-c")
    assert await inbox.next(1) == [(2, b"two-c")]

    before = inbox.reconnects
    if await backend.interrupt():
        assert await inbox.reconnected(more_than=before), "on_reconnect was not called"
    else:
        assert inbox.reconnects == 0, "a broker that lost nothing does not reconnect"
    # Subscriptions are what they were before the connection was lost.
    await broker.publish(1, b"one-d")
    await broker.publish(2, b"two-d")
    assert await inbox.next(1) == [(2, b"two-d")]
    await broker.ping()

    await broker.disconnect()
    assert await inbox.next(1, within=0.2) == []


# -- Redis only ---------------------------------------------------------------


@pytest.fixture
async def brokers(redis_url: str, prefix: str) -> AsyncIterator[Callable[..., RedisBroker]]:
    made: list[RedisBroker] = []

    def make(url: str = redis_url, **options: object) -> RedisBroker:
        options = {"channel_prefix": prefix, "health_check_interval": 0.3, "timeout": 0.5} | options
        broker = RedisBroker(url, **options)  # type: ignore[arg-type]
        made.append(broker)
        return broker

    yield make
    for broker in made:
        await broker.disconnect()


async def test_processes_hear_each_other_only_for_their_shops(
    brokers: Callable[..., RedisBroker], prefix: str
) -> None:
    a, b, elsewhere = brokers(), brokers(), brokers(channel_prefix=f"{prefix}-other")
    inbox_a, inbox_b, inbox_elsewhere = Inbox(a), Inbox(b), Inbox(elsewhere)
    for broker in (a, b, elsewhere):
        await broker.connect()
    await a.subscribe(1)
    await b.subscribe(1)
    await b.subscribe(2)
    await elsewhere.subscribe(1)

    await a.publish(1, b"from-a")
    await b.publish(2, b"from-b")
    await a.publish(1, b"again-a")
    assert await inbox_a.next(2) == [(1, b"from-a"), (1, b"again-a")]
    assert await inbox_b.next(3) == [(1, b"from-a"), (2, b"from-b"), (1, b"again-a")]
    # Another deployment on the same Redis (another prefix) hears nothing.
    assert await inbox_elsewhere.next(1, within=0.3) == []
    assert await inbox_a.next(1, within=0.1) == []


class SilentProxy:
    """A TCP proxy to Redis whose open connections can be frozen: bytes stop
    flowing both ways but nothing is closed, as when a host or a route dies."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._frozen: list[asyncio.Event] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self.hold_new = False
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def freeze(self, *, new_ones_too: bool = False) -> None:
        """Stop every connection open now; new connections work unless ``new_ones_too``."""
        self.hold_new = new_ones_too
        for thawed in self._frozen:
            thawed.clear()

    def thaw(self) -> None:
        self.hold_new = False
        for thawed in self._frozen:
            thawed.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [writer, up_writer]
        thawed = asyncio.Event()
        if not self.hold_new:
            thawed.set()
        self._frozen.append(thawed)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    await thawed.wait()
                    dst.write(data)
                    await dst.drain()

        for task in (
            asyncio.create_task(pipe(reader, up_writer)),
            asyncio.create_task(pipe(up_reader, writer)),
        ):
            self._tasks.add(task)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for writer in self._writers:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if self._server is not None:
            await self._server.wait_closed()


async def test_a_silent_redis_is_noticed_and_replaced(
    brokers: Callable[..., RedisBroker], redis_url: str
) -> None:
    proxy = SilentProxy(int(redis_url.split(":")[2].split("/")[0]))
    await proxy.start()
    try:
        listening = brokers(f"redis://127.0.0.1:{proxy.port}/0")
        publishing = brokers()
        inbox = Inbox(listening)
        await listening.connect()
        await publishing.connect()
        await listening.subscribe(7)
        await publishing.publish(7, b"before")
        assert await inbox.next(1) == [(7, b"before")]
        reconnects = inbox.reconnects

        loop = asyncio.get_running_loop()
        frozen_at = loop.time()
        proxy.freeze()
        # No error, no close: only the missing answers to its pings tell.
        assert await inbox.reconnected(more_than=reconnects, within=5)
        noticed = loop.time() - frozen_at
        assert noticed < 0.3 + 0.5 + 1.0, f"took {noticed:.2f}s to notice"
        await publishing.publish(7, b"after")
        assert await inbox.next(1) == [(7, b"after")]
        await listening.ping()
    finally:
        await proxy.close()


async def test_redis_not_there_at_start_then_there(
    brokers: Callable[..., RedisBroker], own_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    own_redis.kill()
    broker = brokers(own_redis.url, backoff=Backoff(initial=0.05, cap=0.2, jitter=0.0))
    inbox = Inbox(broker)
    loop = asyncio.get_running_loop()
    with caplog.at_level(logging.DEBUG, logger="orderbell.broker.redis"):
        started = loop.time()
        await broker.connect()  # does not raise: the process starts, alerts wait in the log
        assert loop.time() - started < 2
        await broker.subscribe(3)  # remembered, made once Redis is there
        with pytest.raises(Exception, match=r"(?i)connect"):
            await broker.publish(3, b"lost")
        with pytest.raises(Exception):  # noqa: B017 - any connection error will do
            await broker.ping()
        await asyncio.sleep(1.0)
        assert inbox.reconnects == 0

        own_redis.start()
        assert await inbox.reconnected(more_than=0, within=5)
        await broker.publish(3, b"now")
        assert await inbox.next(1) == [(3, b"now")]
        await broker.ping()

    delays = [
        float(r.getMessage().rsplit("reconnecting in ", 1)[1].rstrip("s"))
        for r in caplog.records
        if "reconnecting in" in r.getMessage()
    ]
    # Doubling from 0.05 s, capped at 0.2 s: a dead Redis is not hammered.
    assert delays[:4] == [0.05, 0.1, 0.2, 0.2]
    # Said once at warning level, not once per attempt.
    attempts = [r for r in caplog.records if "reconnecting in" in r.getMessage()]
    assert [r.levelno for r in attempts][:2] == [logging.WARNING, logging.DEBUG]
    assert sum(1 for r in attempts if r.levelno >= logging.WARNING) == 1
    assert max(delays) == 0.2
    assert len(delays) < 15


async def test_a_receiver_that_fails_does_not_stop_the_listener(
    brokers: Callable[..., RedisBroker],
) -> None:
    broker = brokers()
    got: list[bytes] = []

    def receive(shop: int, payload: bytes) -> None:
        if payload == b"bad":
            raise ValueError("a bug in the receiver")
        got.append(payload)

    broker.attach(receive)
    await broker.connect()
    await broker.subscribe(1)
    await broker.publish(1, b"bad")
    await broker.publish(1, b"good")
    for _ in range(100):
        if got:
            break
        await asyncio.sleep(0.02)
    assert got == [b"good"]


async def test_unreachable_redis_fails_publishing_fast(brokers: Callable[..., RedisBroker]) -> None:
    broker = brokers(f"redis://127.0.0.1:{free_port()}/0")
    await broker.connect()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(Exception, match=r"(?i)connect"):
        await broker.publish(1, b"x")
    assert loop.time() - started < 1.5


async def test_while_redis_hangs_publishing_fails_at_once_then_recovers(
    brokers: Callable[..., RedisBroker], redis_url: str
) -> None:
    # Redis's host is gone without a word: connections open (to the proxy)
    # but nothing ever answers. A paying customer must not wait a timeout
    # per alert: once the listener knows, publishing fails at once (the
    # alert stays in the log for the relay).
    proxy = SilentProxy(int(redis_url.split(":")[2].split("/")[0]))
    await proxy.start()
    try:
        broker = brokers(f"redis://127.0.0.1:{proxy.port}/0")
        inbox = Inbox(broker)
        await broker.connect()
        await broker.subscribe(5)
        await broker.publish(5, b"before")
        assert await inbox.next(1) == [(5, b"before")]

        proxy.freeze(new_ones_too=True)
        loop = asyncio.get_running_loop()
        fast = None
        for _ in range(40):
            started = loop.time()
            with pytest.raises((RedisConnectionError, TimeoutError)):
                await broker.publish(5, b"during")
            if loop.time() - started < 0.1:
                fast = loop.time() - started
                break
            await asyncio.sleep(0.1)
        assert fast is not None, "publishing kept waiting for timeouts"
        with pytest.raises(Exception, match=r"(?i)connect"):
            await broker.ping()

        proxy.thaw()
        assert await inbox.reconnected(more_than=0, within=10)
        await broker.publish(5, b"after")
        assert await inbox.next(1) == [(5, b"after")]
    finally:
        await proxy.close()


async def test_subscribing_on_a_silent_connection_returns_and_takes_effect_later(
    brokers: Callable[..., RedisBroker], redis_url: str
) -> None:
    proxy = SilentProxy(int(redis_url.split(":")[2].split("/")[0]))
    await proxy.start()
    try:
        listening, publishing = brokers(f"redis://127.0.0.1:{proxy.port}/0"), brokers()
        inbox = Inbox(listening)
        await listening.connect()
        await publishing.connect()
        proxy.freeze()  # the connection in use stops answering; new ones work
        loop = asyncio.get_running_loop()
        started = loop.time()
        await listening.subscribe(9)  # a console joins: it must not hang
        assert loop.time() - started < 0.5 + 0.3
        # The listener replaces the connection, subscribes shop 9 there,
        # and has the hub catch up on what it may have missed meanwhile.
        assert await inbox.reconnected(more_than=0, within=5)
        await publishing.publish(9, b"nine")
        assert await inbox.next(1) == [(9, b"nine")]
    finally:
        await proxy.close()
