"""Webhook endpoints, their deliveries, and the sender that makes the HTTP calls.

An endpoint belongs to a shop (the merchant API) or to the whole deployment
(``orderbell webhook add``, no shop), takes the events it names, and has a
secret of its own (``whsec_...``, shown once) with which every delivery is
signed as the Standard Webhooks specification says, by the
``standardwebhooks`` package. Endpoints live in the database: one added or
removed while the servers run takes effect without a restart.

A merchant must not make the server call into its own network: a URL
whose host is or resolves to a loopback, private, link-local or reserved
address is refused when it is added and again before each attempt (the
address may have changed), unless the deployment allows it
(``ORDERBELL_WEBHOOK_ALLOW_PRIVATE``). The attempt then goes to the very
address that was checked, so a name that resolves differently a moment
later cannot slip past the check.

An endpoint that has failed without a success for ``disable_after`` is
disabled; its shop's protocol-2 consoles get a ``webhookDisabled`` frame
and show a warning.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import logging
import secrets
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from sqlalchemy import Table, select, update
from standardwebhooks.webhooks import Webhook

from orderbell import __version__
from orderbell.domain.errors import BusinessError, Conflict, NotFound
from orderbell.domain.events import Event, EventType
from orderbell.protocol import control
from orderbell.services.dispatcher import Result
from orderbell.services.outbox import Outbox, Work
from orderbell.storage import outgoing
from orderbell.storage.database import Database
from orderbell.storage.outgoing import WEBHOOK, Claimed, Settlement
from orderbell.storage.tables import Outgoing, OutgoingAttempt, WebhookEndpoint, utcnow

log = logging.getLogger(__name__)

_ENDPOINTS = cast(Table, WebhookEndpoint.__table__)

SECRET_PREFIX = "whsec_"
#: Event names an endpoint may subscribe to.
EVENT_NAMES: tuple[str, ...] = tuple(e.value for e in EventType)
#: Endpoints one shop may have at most.
MAX_PER_SHOP = 10
#: Bytes of an endpoint's answer that are read at most (the rest is ignored).
MAX_ANSWER = 64 * 1024


class Refused(BusinessError):
    """The URL is not one the server may call (scheme, host, or a private address)."""


def iso(value: datetime | None) -> str | None:
    """A stored (naive UTC) time as the API writes it."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` and 24 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


# --- checking a URL -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """A URL taken apart: what to connect to, and what to call it."""

    scheme: str
    host: str
    port: int


def parse_url(url: str) -> Target:
    """The parts of an endpoint URL, once it is an http(s) URL with a host.

    Raises:
        Refused: not such a URL.
    """
    if len(url) > 2048:
        raise Refused("The URL is too long (at most 2048 characters).")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"The URL is not valid: {exc}.") from exc
    if parts.scheme not in ("http", "https"):
        raise Refused("The URL must start with http:// or https://.")
    if not parts.hostname:
        raise Refused("The URL must name a host.")
    if parts.username is not None or parts.password is not None:
        raise Refused("The URL must not contain a user name or password.")
    if any(c.isspace() for c in url):
        raise Refused("The URL must not contain spaces.")
    return Target(parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80))


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether an address is a public one the server may call."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_multicast
        or address.is_unspecified
    )


async def resolve(host: str, port: int, *, within: float) -> list[str]:
    """The addresses ``host`` stands for (itself when it is an address).

    Raises:
        Refused: it resolves to nothing (in ``within`` seconds).
    """
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(within):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError) as exc:
        raise Refused(f"The host {host!r} could not be resolved.") from exc
    found = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not found:
        raise Refused(f"The host {host!r} could not be resolved.")
    return found


async def checked_addresses(target: Target, *, allow_private: bool, within: float) -> list[str]:
    """The addresses to call for ``target``: every one public unless private ones are allowed.

    Raises:
        Refused: the host does not resolve, or an address is not public.
    """
    addresses = await resolve(target.host, target.port, within=within)
    if not allow_private:
        for address in addresses:
            if not is_public(ipaddress.ip_address(address)):
                raise Refused(
                    f"The host {target.host!r} is a loopback, private, link-local or reserved "
                    f"address ({address}); the server does not call into such networks."
                )
    return addresses


def parse_events(names: Sequence[str]) -> list[str]:
    """Known event names, once each, in the order given.

    Raises:
        BusinessError: none given, or one unknown.
    """
    wanted = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    if not wanted:
        raise BusinessError(f"Name at least one event: {', '.join(EVENT_NAMES)}.")
    unknown = [n for n in wanted if n not in EVENT_NAMES]
    if unknown:
        raise BusinessError(
            f"Unknown event {unknown[0]!r}; the events are: {', '.join(EVENT_NAMES)}."
        )
    return wanted


# --- endpoints ------------------------------------------------------------


def endpoint_public(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """An endpoint as the API shows it (never its secret)."""
    return {
        "id": endpoint.id,
        "shopId": endpoint.shop_id,
        "url": endpoint.url,
        "events": endpoint.events.split(","),
        "description": endpoint.description,
        "enabled": endpoint.enabled,
        "failingSince": iso(endpoint.failing_since),
        "disabledAt": iso(endpoint.disabled_at),
        "disabledReason": endpoint.disabled_reason,
        "createdAt": iso(endpoint.created_at),
    }


@dataclass(frozen=True, slots=True)
class Added:
    """A new endpoint and its secret (shown this once)."""

    endpoint: WebhookEndpoint
    secret: str

    def public(self) -> dict[str, Any]:
        """The endpoint as the API shows it, with ``secret``."""
        return {**endpoint_public(self.endpoint), "secret": self.secret}


async def add(
    db: Database,
    *,
    shop_id: int | None,
    url: str,
    events: Sequence[str],
    description: str = "",
    allow_private: bool,
    resolve_timeout: float = 5.0,
) -> Added:
    """Add an endpoint of a shop (or, ``shop_id`` None, of the whole deployment).

    Raises:
        Refused: the URL is not one the server may call.
        BusinessError: no event or an unknown one; the shop has too many endpoints.
        NotFound: no such shop.
    """
    target = parse_url(url)
    names = parse_events(events)
    await checked_addresses(target, allow_private=allow_private, within=resolve_timeout)
    secret = new_secret()
    async with db.transaction() as session:
        if shop_id is not None:
            from orderbell.storage.tables import Shop

            if await session.get(Shop, shop_id) is None:
                raise NotFound(f"Shop {shop_id} not found.")
            count = len(
                (
                    await session.scalars(
                        select(WebhookEndpoint.id).where(
                            WebhookEndpoint.shop_id == shop_id,
                            WebhookEndpoint.removed_at.is_(None),
                        )
                    )
                ).all()
            )
            if count >= MAX_PER_SHOP:
                raise BusinessError(
                    f"A shop may have at most {MAX_PER_SHOP} webhook endpoints; remove one first."
                )
        endpoint = WebhookEndpoint(
            shop_id=shop_id,
            url=url,
            events=",".join(names),
            secret=secret,
            description=description,
            created_at=utcnow(),
        )
        session.add(endpoint)
        await session.flush()
    return Added(endpoint, secret)


def _scope(query: Any, shop: int | None) -> Any:
    # ``shop`` None: the deployment's administrator, who sees every endpoint.
    return query if shop is None else query.where(WebhookEndpoint.shop_id == shop)


async def endpoints(db: Database, shop: int | None) -> list[WebhookEndpoint]:
    """The endpoints of a shop (None: every endpoint), oldest first, removed ones left out."""
    async with db.sessions() as session:
        query = select(WebhookEndpoint).where(WebhookEndpoint.removed_at.is_(None))
        return list(await session.scalars(_scope(query, shop).order_by(WebhookEndpoint.id)))


async def _endpoint(session: Any, shop: int | None, endpoint_id: int) -> WebhookEndpoint:
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.removed_at.is_(None)
    )
    endpoint: WebhookEndpoint | None = await session.scalar(_scope(query, shop).with_for_update())
    if endpoint is None:
        raise NotFound("Webhook endpoint not found.")
    return endpoint


async def remove(db: Database, shop: int | None, endpoint_id: int) -> int:
    """Remove an endpoint; its deliveries not yet made are given up. Returns how many.

    Raises:
        NotFound: no such endpoint (of this shop).
    """
    async with db.transaction() as session:
        endpoint = await _endpoint(session, shop, endpoint_id)
        endpoint.removed_at = utcnow()
        endpoint.enabled = False
        return await outgoing.fail_queued(session, WEBHOOK, endpoint_id, "endpoint removed")


async def send_test(
    outbox: Outbox, shop: int | None, endpoint_id: int, poke: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Queue a ``webhook.test`` event for one endpoint; returns the delivery.

    Raises:
        NotFound: no such endpoint (of this shop).
    """
    async with outbox.transaction() as work:
        endpoint = await _endpoint(work.session, shop, endpoint_id)
        if not endpoint.enabled:
            raise BusinessError("This endpoint is disabled; add it again to use it.")
        event = Event(
            EventType.WEBHOOK_TEST,
            endpoint.shop_id,
            {
                "endpointId": endpoint.id,
                "shopId": endpoint.shop_id,
                "message": "A test event from orderbell.",
            },
        )
        row_id = await outgoing.queue_for(work.session, endpoint.id, event)
    if poke is not None:
        poke()
    return {"id": row_id, "messageId": event.id, "eventType": str(event.type), "state": "queued"}


# --- deliveries -----------------------------------------------------------


def delivery_public(row: Outgoing, attempts: Sequence[OutgoingAttempt] | None) -> dict[str, Any]:
    """A delivery as the API shows it, with its attempts when given."""
    shown: dict[str, Any] = {
        "id": row.id,
        "endpointId": row.target_id,
        "shopId": row.shop_id,
        "messageId": row.message_id,
        "eventType": row.event_type,
        "state": row.state,
        "attempts": row.attempts,
        "nextAttemptAt": iso(row.next_attempt_at) if row.state == outgoing.QUEUED else None,
        "createdAt": iso(row.created_at),
        "finishedAt": iso(row.finished_at),
        "lastStatus": row.last_status,
        "lastError": row.last_error,
    }
    if attempts is not None:
        shown["attemptList"] = [
            {
                "number": a.number,
                "startedAt": iso(a.started_at),
                "durationMs": a.duration_ms,
                "status": a.status,
                "error": a.error,
            }
            for a in attempts
        ]
    return shown


async def _endpoint_ids(session: Any, shop: int | None) -> list[int] | None:
    # A shop sees the deliveries to its own endpoints, not those of the
    # deployment's endpoints about its orders.
    if shop is None:
        return None
    return list(
        await session.scalars(select(WebhookEndpoint.id).where(WebhookEndpoint.shop_id == shop))
    )


async def deliveries(
    db: Database,
    shop: int | None,
    *,
    endpoint_id: int | None = None,
    state: str | None = None,
    event_type: str | None = None,
    page: int = 1,
    page_size: int = 20,
) -> dict[str, Any]:
    """Deliveries to a shop's endpoints (None: every endpoint), newest first, each with
    its attempts: ``{"total", "records"}`` as the other listings page."""
    async with db.sessions() as session:
        ids = await _endpoint_ids(session, shop)
        if ids is not None and endpoint_id is not None:
            ids = [i for i in ids if i == endpoint_id]
        elif endpoint_id is not None:
            ids = [endpoint_id]
        if ids == []:
            return {"total": 0, "records": []}
        found = await outgoing.listing(
            session,
            targets=ids,
            state=state,
            event_type=event_type,
            page=page,
            page_size=page_size,
        )
        attempts = await outgoing.attempts_of(session, [r.id for r in found.rows])
        return {
            "total": found.total,
            "records": [delivery_public(r, attempts[r.id]) for r in found.rows],
        }


async def _delivery(session: Any, shop: int | None, delivery_id: int) -> Outgoing:
    row = await session.get(Outgoing, delivery_id)
    ids = await _endpoint_ids(session, shop)
    if row is None or row.kind != WEBHOOK or (ids is not None and row.target_id not in ids):
        raise NotFound("Delivery not found.")
    return cast(Outgoing, row)


async def delivery(db: Database, shop: int | None, delivery_id: int) -> dict[str, Any]:
    """One delivery with its attempts.

    Raises:
        NotFound: no such delivery (to an endpoint of this shop).
    """
    async with db.sessions() as session:
        row = await _delivery(session, shop, delivery_id)
        attempts = await outgoing.attempts_of(session, [row.id])
        return delivery_public(row, attempts[row.id])


async def resend(
    db: Database, shop: int | None, delivery_id: int, poke: Callable[[], None] | None = None
) -> dict[str, Any]:
    """Send a delivered or failed delivery again, with the same ``webhook-id``.

    Retries of a resent delivery still end ``give_up`` after the event.

    Raises:
        NotFound: no such delivery (to an endpoint of this shop).
        Conflict: it is still queued.
        BusinessError: its endpoint is removed or disabled.
    """
    async with db.transaction() as session:
        row = await _delivery(session, shop, delivery_id)
        if row.state == outgoing.QUEUED:
            raise Conflict("This delivery is still queued; it is sent again by itself.")
        endpoint = await session.get(WebhookEndpoint, row.target_id)
        if endpoint is None or endpoint.removed_at is not None or not endpoint.enabled:
            raise BusinessError("The endpoint of this delivery is removed or disabled.")
        await outgoing.resend(session, row)
        await session.flush()
        shown = delivery_public(row, None)
    if poke is not None:
        poke()
    return shown


# --- the sender -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Known:
    url: str
    target: Target
    signer: Webhook | None
    shop_id: int | None
    usable: bool
    why: str | None


class CheckedAddresses(AbstractResolver):
    """Resolves an endpoint's host to the addresses its last check let through, so
    that a connection goes to an address that was checked, never to whatever the
    name resolves to a moment later."""

    def __init__(self) -> None:
        self.addresses: dict[tuple[str, int], list[str]] = {}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = self.addresses.get((host, port))
        if not found:
            raise OSError(f"{host} was not checked")
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in found
        ]

    async def close(self) -> None:
        """Nothing to release."""


class WebhookSender:
    """Sends webhook rows: one signed POST per attempt; a 2xx answer is delivered.

    Args:
        database: where endpoints are read (fresh every ``refresh`` seconds).
        timeout: seconds an attempt may take in all.
        allow_private: whether loopback and private addresses may be called.
        disable_after: an endpoint failing without a success this long is disabled.
        connections: connections kept open at most to one endpoint.

    Each endpoint has an aiohttp session (and so a connection pool) of its
    own, so that the connections a slow or dead endpoint holds never stand in
    the way of another endpoint's requests; the sessions share one TLS
    context. aiohttp rather than httpx because an attempt is mostly the HTTP
    client's own work, and aiohttp's costs a fraction of the CPU per request
    (docs/performance.md, Webhooks).
    """

    kind = WEBHOOK

    def __init__(
        self,
        database: Database,
        *,
        timeout: float = 5.0,
        allow_private: bool = False,
        disable_after: timedelta = timedelta(hours=24),
        connections: int = 256,
        refresh: float = 1.0,
    ) -> None:
        self._database = database
        self._timeout = timeout
        self._allow_private = allow_private
        self._disable_after = disable_after
        self._refresh = refresh
        self._known: dict[int, tuple[float, _Known]] = {}
        # Endpoints this process knows to have no run of failures recorded:
        # a success there needs no write.
        self._sound: set[int] = set()
        self._connections = connections
        self._tls: ssl.SSLContext | None = None
        self._sessions: dict[int, tuple[aiohttp.ClientSession, CheckedAddresses]] = {}

    def _session(self, endpoint_id: int) -> tuple[aiohttp.ClientSession, CheckedAddresses]:
        found = self._sessions.get(endpoint_id)
        if found is None:
            if self._tls is None:
                self._tls = ssl.create_default_context()
            checked = CheckedAddresses()
            connector = aiohttp.TCPConnector(
                limit=self._connections,
                ssl=self._tls,
                # Every new connection asks the resolver: with private addresses
                # refused, the one that hands out the addresses just checked.
                use_dns_cache=False,
                resolver=None if self._allow_private else checked,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                headers={"user-agent": f"orderbell/{__version__}"},
                auto_decompress=False,
                trust_env=False,
            )
            found = self._sessions[endpoint_id] = (session, checked)
        return found

    async def _forget(self, endpoint_id: int) -> None:
        found = self._sessions.pop(endpoint_id, None)
        if found is not None:
            await found[0].close()

    async def _endpoint(self, endpoint_id: int) -> _Known:
        now = time.monotonic()
        cached = self._known.get(endpoint_id)
        if cached is not None and now - cached[0] < self._refresh:
            return cached[1]
        async with self._database.sessions() as session:
            endpoint = await session.get(WebhookEndpoint, endpoint_id)
        known = _known(endpoint)
        self._known[endpoint_id] = (now, known)
        return known

    async def send(self, row: Claimed) -> Result:
        """POST the row's payload to its endpoint, signed."""
        known = await self._endpoint(row.target_id)
        if not known.usable or known.signer is None:
            await self._forget(row.target_id)
            return Result(False, error=known.why, final=True)
        try:
            async with asyncio.timeout(self._timeout):
                return await self._post(row, known)
        except TimeoutError:
            return Result(False, error=f"no answer within {self._timeout:g} s")

    async def _post(self, row: Claimed, known: _Known) -> Result:
        assert known.signer is not None
        body = row.payload.encode()
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": row.message_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": known.signer.sign(row.message_id, now, body),
        }
        session, checked = self._session(row.target_id)
        if not self._allow_private:
            try:
                addresses = await checked_addresses(
                    known.target, allow_private=False, within=self._timeout
                )
            except Refused as exc:
                return Result(False, error=exc.message)
            # A new connection goes to an address just checked, under the
            # endpoint's own name (Host header, TLS name).
            checked.addresses[(known.target.host, known.target.port)] = addresses
        try:
            async with session.post(
                known.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                # A little of the answer is read, so that the connection can be
                # kept; a longer answer closes it instead.
                await response.content.read(MAX_ANSWER)
        except aiohttp.ClientError as exc:
            return Result(False, error=_describe(exc))
        if 200 <= status < 300:
            return Result(True, status=status)
        return Result(False, status=status, error=f"answered {status}")

    async def settled(self, work: Work, settlements: Sequence[Settlement]) -> None:
        """Keep each endpoint's run of failures; disable one failing too long."""
        working: set[int] = set()
        failing: dict[int, datetime] = {}
        for s in settlements:
            if s.delivered:
                working.add(s.row.target_id)
            elif s.error not in _FINAL_ERRORS:
                at = failing.get(s.row.target_id)
                failing[s.row.target_id] = s.started_at if at is None else min(at, s.started_at)
        session = work.session
        cleared = working - self._sound
        if cleared:
            await session.execute(
                update(_ENDPOINTS)
                .where(_ENDPOINTS.c.id.in_(cleared), _ENDPOINTS.c.failing_since.is_not(None))
                .values(failing_since=None)
            )
            self._sound |= cleared
        self._sound -= failing.keys() - working
        for endpoint_id in sorted(failing.keys() - working):
            await session.execute(
                update(_ENDPOINTS)
                .where(_ENDPOINTS.c.id == endpoint_id, _ENDPOINTS.c.failing_since.is_(None))
                .values(failing_since=failing[endpoint_id])
            )
            await self._disable_if_due(work, endpoint_id)

    async def _disable_if_due(self, work: Work, endpoint_id: int) -> None:
        now = utcnow()
        since = now - self._disable_after
        reason = f"failed without a success for {_hours(self._disable_after)}"
        disabled = (
            await work.session.execute(
                update(_ENDPOINTS)
                .where(
                    _ENDPOINTS.c.id == endpoint_id,
                    _ENDPOINTS.c.enabled.is_(True),
                    _ENDPOINTS.c.failing_since <= since,
                )
                .values(enabled=False, disabled_at=now, disabled_reason=reason)
                .returning(_ENDPOINTS.c.shop_id, _ENDPOINTS.c.url)
            )
        ).first()
        if disabled is None:
            return
        shop_id, url = disabled
        given_up = await outgoing.fail_queued(
            work.session, WEBHOOK, endpoint_id, "endpoint disabled"
        )
        self._known.pop(endpoint_id, None)
        log.warning(
            "webhook endpoint %d (%s) disabled: %s; %d deliveries given up",
            endpoint_id,
            url,
            reason,
            given_up,
        )
        if shop_id is not None:
            work.notices.append(
                (
                    shop_id,
                    control(
                        "webhookDisabled",
                        shopId=shop_id,
                        endpointId=endpoint_id,
                        url=url,
                        reason=reason,
                        time=iso(now),
                    ),
                )
            )

    async def close(self) -> None:
        """Close the connections."""
        for endpoint_id in list(self._sessions):
            await self._forget(endpoint_id)


_GONE = "endpoint removed"
_OFF = "endpoint disabled"
_FINAL_ERRORS = frozenset({_GONE, _OFF})


def _known(endpoint: WebhookEndpoint | None) -> _Known:
    if endpoint is None or endpoint.removed_at is not None:
        return _Known("", Target("", "", 0), None, None, False, _GONE)
    if not endpoint.enabled:
        return _Known(endpoint.url, Target("", "", 0), None, endpoint.shop_id, False, _OFF)
    try:
        target = parse_url(endpoint.url)
        signer = Webhook(endpoint.secret)
    except (Refused, ValueError) as exc:
        return _Known(endpoint.url, Target("", "", 0), None, endpoint.shop_id, False, str(exc))
    return _Known(endpoint.url, target, signer, endpoint.shop_id, True, None)


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:g} hours" if hours >= 1 else f"{span.total_seconds():g} seconds"


def _describe(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"could not connect: {exc.os_error}" if str(exc.os_error) else "could not connect"
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
