"""The Redis broker: several server processes, on one machine or many, share alerts.

Each shop has its own channel, ``{prefix}:shop:{id}``. A process subscribes
only to the shops whose consoles are connected to it, so it never receives,
let alone decodes, the traffic of other shops. Publishing goes through a
small connection pool; receiving goes through one dedicated connection
owned by a listener task.

The listener does not trust a quiet connection. It sends a PING every
``health_check_interval`` seconds and gives the connection up when nothing
at all has come back for ``health_check_interval + timeout`` seconds. That
catches a Redis that vanished without closing the TCP connection (a crashed
host, a dropped route), which would otherwise leave the process deaf
without a word. A lost connection is replaced after a capped exponential
backoff with jitter; every wanted shop is subscribed again, and once Redis
has confirmed that, the ``on_reconnect`` hook lets the hub read from the
alert log what was published while the connection was down.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

try:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - exercised with the package hidden
    raise ImportError(
        "the redis:// broker needs the redis package (redis-py 5 or newer): "
        "pip install 'redis>=5', or use --broker-url memory:// for a single process"
    ) from exc

from orderbell.broker.base import Broker

log = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMES = ("redis", "rediss")
_HEALTH_TOKEN = b"orderbell-health"


@dataclass
class Backoff:
    """Delays between reconnection attempts.

    Attempt ``n`` (from 0) waits ``min(cap, initial * 2**n)`` seconds, scaled
    down by a random factor in ``[1 - jitter, 1]`` so that processes that lost
    Redis at the same moment do not all come back at the same moment.
    """

    initial: float = 0.1
    cap: float = 10.0
    jitter: float = 0.5
    random: Callable[[], float] = field(default=random.random, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.cap:
            raise ValueError("backoff needs 0 < initial <= cap")
        if not 0 <= self.jitter <= 1:
            raise ValueError("backoff jitter must be between 0 and 1")

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (0 is the first retry)."""
        # The exponent is bounded so that a Redis gone for days cannot overflow a float.
        base = min(self.cap, self.initial * 2.0 ** min(max(attempt, 0), 60))
        return base * (1.0 - self.jitter * self.random())


def channel_name(prefix: str, shop_id: int) -> str:
    """The channel that carries ``shop_id``'s frames."""
    return f"{prefix}:shop:{shop_id}"


def shop_of_channel(prefix: str, channel: bytes | str) -> int | None:
    """The shop id in a channel name of this prefix, or None for any other channel."""
    name = channel.decode(errors="replace") if isinstance(channel, bytes) else channel
    head = f"{prefix}:shop:"
    if not name.startswith(head):
        return None
    rest = name[len(head) :]
    return int(rest) if rest.isdigit() else None


def safe_url(url: str) -> str:
    """``url`` without its password, for log lines."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return parts._replace(netloc=f"{user}{host}{port}").geturl()


class LinkLost(RedisConnectionError):
    """The subscriber connection in use was given up; the listener is replacing it."""


class _Link:
    """One subscriber connection. Never revived: once it fails, the listener makes another.

    redis-py would quietly reconnect a dropped pub/sub connection the next
    time it is used and resubscribe on its own; then nobody would know that
    messages were lost in between. A link refuses that, so that every
    reconnection goes through the listener, which calls the reconnect hook.
    """

    def __init__(self, pubsub: PubSub) -> None:
        self.pubsub = pubsub
        self.dead: BaseException | None = None
        self.confirmed = False
        self.ready_token = b"orderbell-ready-" + os.urandom(6).hex().encode()

    async def open(self) -> None:
        await self.pubsub.connect()  # type: ignore[no-untyped-call]
        connection = self.pubsub.connection
        assert connection is not None
        connection.deregister_connect_callback(self.pubsub.on_connect)
        connection.register_connect_callback(self._refuse_revival)

    async def _refuse_revival(self, _connection: Any) -> None:
        raise LinkLost("the subscriber connection was lost")

    async def run(self, work: Callable[[], Awaitable[T]]) -> T:
        """Await ``work()`` on this connection; any failure marks the link dead."""
        if self.dead is not None:
            raise LinkLost(f"the subscriber connection was lost: {self.dead}")
        try:
            return await work()
        except (RedisError, OSError) as exc:
            self.dead = self.dead or exc
            raise

    async def close(self) -> None:
        connection = self.pubsub.connection
        if connection is not None:
            # The connection goes back to the pool; whoever gets it next may
            # (re)connect it.
            connection.deregister_connect_callback(self._refuse_revival)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await self.pubsub.aclose()  # type: ignore[no-untyped-call]


class RedisBroker(Broker):
    """Per-shop channels on a Redis server shared by every process.

    Args:
        url: ``redis://[user:password@]host[:port][/db]`` or ``rediss://...``
            (TLS). Pub/sub channels are not scoped by the database number;
            ``channel_prefix`` is what keeps two deployments on one Redis apart.
        channel_prefix: the first part of every channel name.
        health_check_interval: seconds between PINGs on the subscriber connection.
        timeout: seconds to connect, to hand over a message, and for Redis to
            answer a PING before the connection is given up.
        backoff: delays between reconnection attempts.

    Raises:
        ValueError: the URL's scheme is not redis:// or rediss://, or an
            option is out of range.
    """

    def __init__(
        self,
        url: str,
        *,
        channel_prefix: str = "orderbell",
        health_check_interval: float = 5.0,
        timeout: float = 3.0,
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__()
        scheme = url.split("://", 1)[0].lower()
        if scheme not in SCHEMES:
            raise ValueError(f"a Redis broker URL starts with redis:// or rediss://, not {url!r}")
        if not channel_prefix or any(c.isspace() for c in channel_prefix):
            raise ValueError("the channel prefix must be non-empty and without spaces")
        if health_check_interval <= 0 or timeout <= 0:
            raise ValueError("health_check_interval and timeout must be positive")
        self.url = url
        self.channel_prefix = channel_prefix
        self._interval = health_check_interval
        self._timeout = timeout
        self._backoff = backoff or Backoff()
        self._shops: set[int] = set()
        self._publisher: Redis | None = None
        self._subscriber: Redis | None = None
        self._link: _Link | None = None
        self._ready = asyncio.Event()
        self._pongs: dict[bytes, tuple[_Link, asyncio.Future[None]]] = {}
        self._listener: asyncio.Task[None] | None = None
        self._hook_task: asyncio.Task[None] | None = None
        self._hook_again = False
        # Set when messages of a wanted shop may have gone by unseen: a
        # working connection was lost, or a shop was wanted while there was none.
        self._missed = False
        # Set while the listener cannot even open a connection: publishing
        # then fails at once instead of making each paying customer wait
        # for the timeout (the alert is in the log; the relay sends it later).
        self._unreachable = False
        self._strays: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        #: How many times a subscriber connection was established (the first one included).
        self.connections = 0

    # -- lifecycle -----------------------------------------------------------

    def _client(self, role: str, retry: Retry) -> Redis:
        return Redis.from_url(
            self.url,
            socket_connect_timeout=self._timeout,
            socket_timeout=self._timeout,
            socket_keepalive=True,
            retry=retry,
            # Named so that an operator (or a test) can find this process's
            # connections in CLIENT LIST.
            client_name=f"{self.channel_prefix}:{role}:{os.getpid()}",
        )

    async def connect(self) -> None:
        """Create the clients and start the listener; wait up to ``timeout`` for Redis.

        Does not raise when Redis cannot be reached: the listener keeps
        trying, publishing fails until it is back (the relay publishes those
        alerts later), and ``ping`` reports the broker unready meanwhile.
        """
        if self._listener is not None:
            return
        # One quick retry for publishing: a pooled connection that Redis
        # closed while idle fails on first use, and a fresh one then works.
        self._publisher = self._client(
            "pub", Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
        )
        # None for the subscriber: the listener decides about reconnecting.
        self._subscriber = self._client("sub", Retry(NoBackoff(), 0, supported_errors=()))
        self._listener = asyncio.create_task(self._listen(), name="orderbell-redis-listener")
        try:
            async with asyncio.timeout(self._timeout):
                await self._ready.wait()
        except TimeoutError:
            log.warning(
                "Redis at %s does not answer yet; alerts are stored and will be "
                "delivered once it does",
                safe_url(self.url),
            )

    async def disconnect(self) -> None:
        """Stop the listener and close every connection."""
        tasks = [t for t in (self._listener, self._hook_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._listener = self._hook_task = None
        link, self._link = self._link, None
        if link is not None:
            await link.close()
        for client in (self._publisher, self._subscriber):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()
        self._publisher = self._subscriber = None
        self._ready.clear()

    # -- the interface -------------------------------------------------------

    async def subscribe(self, shop_id: int) -> None:
        """Start receiving ``shop_id``'s messages.

        Returns once Redis has confirmed the subscription, so that whatever
        the caller reads from the log next, anything published later arrives
        here. While Redis is unreachable it returns at once: the listener
        subscribes when it is back and then calls the reconnect hook. Never
        raises for connection problems; a subscription that fails gives the
        connection up, with the same outcome.
        """
        self._shops.add(shop_id)
        self._strays.discard(shop_id)
        link = self._link
        if link is None:
            self._missed = True
            return
        try:
            async with asyncio.timeout(self._timeout):
                await link.run(lambda: link.pubsub.subscribe(self._channel(shop_id)))
                await self._confirm(link)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("subscribing to shop %s failed (%s); reconnecting", shop_id, exc)
            # The caller goes on as if subscribed: the reconnect hook must
            # read what this shop misses until the next connection has it.
            self._missed = True
            self._give_up(link, exc)

    async def unsubscribe(self, shop_id: int) -> None:
        """Stop receiving ``shop_id``'s messages (at once: later ones are dropped here)."""
        self._shops.discard(shop_id)
        link = self._link
        if link is None:
            return
        try:
            async with asyncio.timeout(self._timeout):
                await link.run(lambda: link.pubsub.unsubscribe(self._channel(shop_id)))
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("unsubscribing from shop %s failed (%s); reconnecting", shop_id, exc)
            self._give_up(link, exc)

    async def publish(self, shop_id: int, payload: bytes) -> None:
        """Send ``payload`` to every process subscribed to ``shop_id``.

        Raises:
            redis.exceptions.ConnectionError: Redis could not be reached; at
                once, without trying, while the listener cannot connect.
            TimeoutError: Redis did not take the message within ``timeout``
                seconds; it may still have delivered it, which is harmless
                because hubs pass each seq on once.
            RuntimeError: the broker is not connected.
        """
        client = self._publisher
        if client is None:
            raise RuntimeError("the Redis broker is not connected")
        if self._unreachable:
            raise RedisConnectionError(f"cannot connect to Redis at {safe_url(self.url)} now")
        async with asyncio.timeout(self._timeout):
            await client.publish(self._channel(shop_id), payload)

    async def publish_many(self, messages: Sequence[tuple[int, bytes]]) -> None:
        """Send each ``(shop id, payload)`` in order, in one round trip (a pipeline).

        Raises:
            the same as ``publish``, for the batch as a whole: within
            ``timeout`` seconds, or at once while the listener cannot connect.
        """
        client = self._publisher
        if client is None:
            raise RuntimeError("the Redis broker is not connected")
        if self._unreachable:
            raise RedisConnectionError(f"cannot connect to Redis at {safe_url(self.url)} now")
        if not messages:
            return
        async with asyncio.timeout(self._timeout):
            async with client.pipeline(transaction=False) as pipe:
                for shop_id, payload in messages:
                    pipe.publish(self._channel(shop_id), payload)
                await pipe.execute()

    async def ping(self) -> None:
        """Raise unless Redis answers and this process is listening.

        Raises:
            redis.exceptions.ConnectionError: Redis cannot be reached, or the
                subscriber connection is down (being re-established).
            TimeoutError: Redis did not answer within ``timeout`` seconds.
            RuntimeError: the broker is not connected.
        """
        client = self._publisher
        if client is None:
            raise RuntimeError("the Redis broker is not connected")
        if not self._ready.is_set():
            raise RedisConnectionError("the subscriber connection to Redis is being re-established")
        async with asyncio.timeout(self._timeout):
            await client.ping()

    # -- the listener --------------------------------------------------------

    def _channel(self, shop_id: int) -> str:
        return channel_name(self.channel_prefix, shop_id)

    async def _listen(self) -> None:
        attempt = 0
        while True:
            assert self._subscriber is not None
            link = _Link(self._subscriber.pubsub())
            reason: BaseException = LinkLost("the subscriber connection ended")
            try:
                await self._open(link)
                await self._receive(link)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                reason = exc
            finally:
                self._lose(link)
                await link.close()
            if link.confirmed:
                self._missed = True
                attempt = 0
            else:
                self._unreachable = True
            delay = self._backoff.delay(attempt)
            # The first failure is news; the attempts after it, every few
            # seconds for as long as Redis stays away, are not (the outbox
            # counts what waits meanwhile).
            level = logging.WARNING if attempt == 0 else logging.DEBUG
            attempt += 1
            log.log(
                level,
                "Redis subscriber connection to %s lost (%s: %s); reconnecting in %.2fs",
                safe_url(self.url),
                type(reason).__name__,
                reason,
                delay,
            )
            await asyncio.sleep(delay)

    async def _open(self, link: _Link) -> None:
        async with asyncio.timeout(self._timeout):
            await link.run(link.open)
            # From here on, subscribe() sends its own SUBSCRIBE on this link;
            # what it added before is in the snapshot below. Nothing is lost.
            self._link = link
            channels = [self._channel(s) for s in sorted(self._shops)]
            if channels:
                await link.run(lambda: link.pubsub.subscribe(*channels))
            # Redis answers in order: this PING's reply means every
            # subscription above is in effect (see _handle).
            await link.run(lambda: link.pubsub.ping(link.ready_token))
        self.connections += 1

    async def _receive(self, link: _Link) -> None:
        loop = asyncio.get_running_loop()
        heard = loop.time()
        next_ping = heard + self._interval
        while True:
            if link.dead is not None:
                raise link.dead
            now = loop.time()
            if now - heard > self._interval + self._timeout:
                raise TimeoutError(f"Redis has not answered for {now - heard:.1f}s")
            if now >= next_ping:
                await self._send(link, lambda: link.pubsub.ping(_HEALTH_TOKEN))
                next_ping = now + self._interval
            # Short reads, so that a link given up elsewhere is left quickly.
            wait = min(1.0, max(0.0, min(next_ping, heard + self._interval + self._timeout) - now))
            message = await link.run(functools.partial(link.pubsub.get_message, timeout=wait))
            if message is not None:
                heard = loop.time()
                self._handle(link, message)

    async def _send(self, link: _Link, work: Callable[[], Awaitable[Any]]) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await link.run(work)
        except TimeoutError as exc:
            # A write cut off halfway leaves the protocol in an unknown state.
            link.dead = link.dead or exc
            raise

    def _handle(self, link: _Link, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "message":
            shop_id = shop_of_channel(self.channel_prefix, message["channel"])
            if shop_id is None:
                return
            if shop_id not in self._shops:
                self._drop_stray(link, shop_id)
                return
            try:
                self._deliver(shop_id, message["data"])
            except Exception:
                log.exception("the receiver failed on a message of shop %s", shop_id)
        elif kind == "pong":
            token = message.get("data")
            if token == link.ready_token:
                link.confirmed = True
                self._unreachable = False
                self._ready.set()
                if self._missed:
                    self._missed = False
                    self._call_reconnect_hook()
            elif isinstance(token, bytes) and token in self._pongs:
                _owner, waiter = self._pongs.pop(token)
                if not waiter.done():
                    waiter.set_result(None)

    async def _confirm(self, link: _Link) -> None:
        token = b"orderbell-sub-" + os.urandom(6).hex().encode()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pongs[token] = (link, waiter)
        try:
            await link.run(lambda: link.pubsub.ping(token))
            await waiter
        finally:
            self._pongs.pop(token, None)

    def _give_up(self, link: _Link, exc: BaseException) -> None:
        link.dead = link.dead or exc
        self._lose(link)

    def _lose(self, link: _Link) -> None:
        if self._link is link:
            self._link = None
            self._ready.clear()
        for token, (owner, waiter) in list(self._pongs.items()):
            if owner is link:
                del self._pongs[token]
                if not waiter.done():
                    waiter.set_exception(LinkLost("the subscriber connection was lost"))

    def _drop_stray(self, link: _Link, shop_id: int) -> None:
        # A subscription that raced an unsubscribe; end it rather than keep
        # receiving a shop nobody here watches.
        if shop_id in self._strays:
            return
        self._strays.add(shop_id)

        async def drop() -> None:
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                async with asyncio.timeout(self._timeout):
                    await link.run(lambda: link.pubsub.unsubscribe(self._channel(shop_id)))

        self._spawn(drop())

    def _call_reconnect_hook(self) -> None:
        if self._hook_task is not None and not self._hook_task.done():
            self._hook_again = True
            return
        self._hook_task = asyncio.get_running_loop().create_task(self._run_reconnect_hook())

    async def _run_reconnect_hook(self) -> None:
        while True:
            self._hook_again = False
            await self._reconnected()
            if not self._hook_again:
                return

    def _spawn(self, work: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
