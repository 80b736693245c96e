"""The asyncio console client."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import random
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import orjson
import websockets

from orderbell.client.errors import ApiError, LoginFailed, ServerUnreachable
from orderbell.client.events import Alert, Event, Handled, Presence, Reset, Status
from orderbell.protocol import CLOSE_FORBIDDEN, CLOSE_UNAUTHORIZED


class ConsoleClient:
    """A merchant console over the orderbell protocol (version 2).

    Args:
        url: the server's base URL, e.g. ``http://127.0.0.1:8080``.
        username: a merchant login.
        password: its password.
        state_file: where the last processed ``seq`` is kept, so that a new
            client (after a restart of your program) resumes where the last
            one stopped. Without it, resuming works only within this object.
        backoff_initial, backoff_max: reconnect delays in seconds; each
            attempt waits a random time up to the doubled delay (full jitter).
        kind: what this console is among the shop's devices (``sdk``,
            ``listener`` or ``browser``).
        device_id: its device id (the ``sid`` unless given).

    Alerts are delivered at least once by the server and deduplicated here
    by ``seq``, so each is yielded once, in order.
    """

    def __init__(
        self,
        url: str,
        username: str,
        password: str,
        *,
        state_file: str | os.PathLike[str] | None = None,
        sid: str | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        timeout: float = 10.0,
        kind: str = "sdk",
        device_id: str | None = None,
    ) -> None:
        parts = urlsplit(url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"url must be http(s)://host[:port], not {url!r}")
        self.url = f"{parts.scheme}://{parts.netloc}{parts.path}"
        self._ws_base = (
            "wss" if parts.scheme == "https" else "ws"
        ) + f"://{parts.netloc}{parts.path}"
        self.username = username
        self._password = password
        self._state = Path(state_file) if state_file is not None else None
        self.sid = sid or "sdk-" + secrets.token_hex(4)
        self.kind = kind
        self.device_id = device_id
        #: What this console last said of itself (``report_status``).
        self._status: dict[str, Any] = {}
        self._ws: Any = None
        self._backoff = (backoff_initial, backoff_max)
        self._http = httpx.AsyncClient(base_url=self.url, timeout=timeout)
        self._token: str | None = None
        self.shop_id: int | None = None
        self.last_seq = self._load_seq()

    async def __aenter__(self) -> ConsoleClient:
        await self.login()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    async def login(self) -> None:
        """Log in and keep the token.

        Raises:
            LoginFailed: wrong username or password.
            ServerUnreachable: the server did not answer.
            ApiError: any other refusal; ``transient`` (429 from the login
                throttle, or a server error) says that a later try may work.
        """
        try:
            response = await self._http.post(
                "/admin/employee/login",
                json={"username": self.username, "password": self._password},
            )
        except httpx.TransportError as exc:
            raise ServerUnreachable(f"cannot reach {self.url}: {exc}") from exc
        if response.status_code in (401, 403, 422):
            raise LoginFailed(_message(response) or "login refused")
        data = _unwrap(response)
        self._token = str(data["token"])
        self.shop_id = int(data["shopId"])

    async def events(self) -> AsyncIterator[Event]:
        """Every event, forever: alerts (once each, in order), handled notices,
        resets, connection changes and the shop's devices (``Presence``).
        Reconnects by itself.

        A login that cannot be done now (no answer, a server error, or the
        login throttle's 429) is tried again with the same backoff as a lost
        connection, after at least the ``Retry-After`` the server asked for;
        each wait is yielded as a ``reconnecting`` status.

        Raises:
            LoginFailed: the server refused the username or password (also
                when logging in again after a token expired), or refused a
                token it had just issued.
        """
        attempt = 0
        while True:
            fresh = self._token is None
            delay: float | None = None
            try:
                if fresh:
                    await self.login()
                async with websockets.connect(self._socket_url(), open_timeout=10) as ws:
                    connected = False
                    async for message in ws:
                        frame = orjson.loads(message)
                        if not connected:
                            # The server sends "hello" once the console is
                            # registered: from then on no alert passes it by.
                            connected = True
                            attempt = 0
                            self._ws = ws
                            if self._status:
                                await ws.send(self._status_frame())
                            yield Status("connected")
                        event = self._event(frame)
                        if event is None:
                            continue
                        yield event
                        if isinstance(event, Alert):
                            self._save_seq(event.seq)
                    reason = f"closed ({ws.close_code})"
            except ServerUnreachable as exc:
                reason = f"login: {exc}"
            except ApiError as exc:
                if not exc.transient:
                    raise
                reason, delay = f"login: {exc}", exc.retry_after
            except websockets.ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else None
                if code == CLOSE_UNAUTHORIZED and not fresh:
                    # The token expired: log in again at once, then on as before.
                    self._token = None
                    continue
                if code in (CLOSE_UNAUTHORIZED, CLOSE_FORBIDDEN):
                    raise LoginFailed(exc.rcvd.reason if exc.rcvd else "refused") from exc
                reason = f"connection lost ({code})"
            except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
                reason = f"cannot connect: {exc}"
            self._ws = None
            wait = random.uniform(0, min(self._backoff[1], self._backoff[0] * 2**attempt))
            if delay is not None:
                wait = max(wait, delay)
            attempt = min(attempt + 1, 16)
            yield Status("reconnecting", reason, wait)
            await asyncio.sleep(wait)

    async def alerts(self) -> AsyncIterator[Alert]:
        """Only the alerts of ``events()``."""
        async for event in self.events():
            if isinstance(event, Alert):
                yield event

    def _event(self, frame: dict[str, Any]) -> Event | None:
        kind = frame.get("type")
        if isinstance(kind, int):
            alert = Alert.from_frame(frame)
            return alert if alert.seq > self.last_seq else None
        if kind == "handled":
            return Handled(
                alert_seq=int(frame["alertSeq"]),
                alert_type=int(frame["alertType"]),
                order_id=frame.get("orderId"),
                action=str(frame["action"]),
                by=frame.get("by"),
                reply=frame.get("reply"),
            )
        if kind == "presence":
            return Presence.from_frame(frame)
        if kind == "reset":
            # What follows starts at oldestSeq, whatever this client saw before.
            self.last_seq = int(frame["oldestSeq"]) - 1
            return Reset(
                int(frame["since"]),
                int(frame["latestSeq"]),
                int(frame["oldestSeq"]),
                str(frame["reason"]),
            )
        return None

    async def report_status(
        self,
        *,
        sound: bool | None = None,
        visible: bool | None = None,
        notifications: str | None = None,
        volume: float | None = None,
        app_version: str | None = None,
    ) -> None:
        """Tell the shop how this console is (a ``status`` frame; the fields given
        change, the others stay). Sent now if connected, and again after each
        reconnection; the shop sees it in its device list."""
        given = {
            "sound": sound,
            "visible": visible,
            "notifications": notifications,
            "volume": volume,
            "appVersion": app_version,
        }
        self._status.update({k: v for k, v in given.items() if v is not None})
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(websockets.ConnectionClosed):
                await ws.send(self._status_frame())

    async def ack(self, seq: int, what: str) -> bool:
        """Tell the server this console showed (``shown``) or rang (``rung``) the
        alert ``seq`` (an ``ack`` frame): the shop's report counts from the
        earliest such moment on any console. Whether it was sent (not when
        disconnected: a later ack of the same alert says no more).

        Raises:
            ValueError: ``what`` is neither ``shown`` nor ``rung``.
        """
        if what not in ("shown", "rung"):
            raise ValueError('what must be "shown" or "rung"')
        ws = self._ws
        if ws is None:
            return False
        try:
            await ws.send(orjson.dumps({"type": "ack", "seq": seq, "what": what}).decode())
        except websockets.ConnectionClosed:
            return False
        return True

    def _status_frame(self) -> str:
        return orjson.dumps({"type": "status", **self._status}).decode()

    def _socket_url(self) -> str:
        query = {"token": self._token or "", "protocol": "2", "kind": self.kind}
        if self.device_id is not None:
            query["deviceId"] = self.device_id
        if self.last_seq:
            query["since"] = str(self.last_seq)
        return f"{self._ws_base}/ws/{self.sid}?{urlencode(query)}"

    def _load_seq(self) -> int:
        if self._state is None:
            return 0
        with contextlib.suppress(FileNotFoundError, ValueError):
            return int(self._state.read_text().strip() or 0)
        return 0

    def _save_seq(self, seq: int) -> None:
        self.last_seq = max(self.last_seq, seq)
        if self._state is None:
            return
        self._state.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._state.with_name(self._state.name + ".tmp")
        temporary.write_text(str(self.last_seq))
        temporary.replace(self._state)  # atomic: never a half-written file

    # Actions on orders -------------------------------------------------

    async def order(self, order_id: int) -> dict[str, Any]:
        """The order's details (dishes, amount, address, remark)."""
        data: dict[str, Any] = await self._call("GET", f"/admin/order/details/{order_id}")
        return data

    async def confirm(self, order_id: int) -> None:
        """Accept an order that waits for the shop."""
        await self._call("PUT", "/admin/order/confirm", json={"id": order_id})

    async def reject(self, order_id: int, reason: str) -> None:
        """Reject an order that waits for the shop."""
        await self._call(
            "PUT", "/admin/order/rejection", json={"id": order_id, "rejectionReason": reason}
        )

    async def deliver(self, order_id: int) -> None:
        """Send an accepted order out for delivery."""
        await self._call("PUT", f"/admin/order/delivery/{order_id}")

    async def complete(self, order_id: int) -> None:
        """Mark a delivered order completed."""
        await self._call("PUT", f"/admin/order/complete/{order_id}")

    async def reply(self, order_id: int, choice: str, text: str | None = None) -> str:
        """Answer the order's open reminders (``cooking``, ``out_for_delivery``,
        ``weather_delay``, ``short_handed``, or ``custom`` with ``text``); returns the reply text."""
        body = {"orderId": order_id, "reply": choice, "text": text}
        data = await self._call("PUT", "/admin/alert/reply", json=body)
        return str(data["reply"])

    async def _call(self, method: str, path: str, **kw: Any) -> Any:
        """An authenticated API call; one fresh login if the token expired.

        Raises:
            ApiError: the server refused the action.
            ServerUnreachable: no answer.
        """
        for attempt in range(2):
            if self._token is None:
                await self.login()
            try:
                response = await self._http.request(
                    method, path, headers={"token": self._token or ""}, **kw
                )
            except httpx.TransportError as exc:
                raise ServerUnreachable(f"cannot reach {self.url}: {exc}") from exc
            if response.status_code == 401 and attempt == 0:
                self._token = None
                continue
            return _unwrap(response)
        raise AssertionError("unreachable")  # pragma: no cover


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("msg") or "")
    except ValueError:
        return response.text[:200]


def _unwrap(response: httpx.Response) -> Any:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        message = response.text[:200] or "not a JSON answer"
        raise ApiError(status, message, retry_after=_retry_after(response)) from None
    if status >= 400 or not isinstance(body, dict) or body.get("code") != 1:
        message = str(body.get("msg") if isinstance(body, dict) else "") or "request failed"
        raise ApiError(status, message, retry_after=_retry_after(response))
    return body.get("data")


def _retry_after(response: httpx.Response) -> float | None:
    """The wait a ``Retry-After`` header asks for: seconds, or an HTTP date."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())
