"""``orderbell listen``: a shop's alerts in a terminal (or as JSON lines for pipes)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import orjson

from orderbell.client.console import ConsoleClient
from orderbell.client.errors import ApiError, ClientError
from orderbell.client.events import Alert, Event, Handled, Presence, Reset, Status

BOLD, RED, YELLOW, GREEN, DIM, RESET = (
    "\033[1m",
    "\033[31m",
    "\033[33m",
    "\033[32m",
    "\033[2m",
    "\033[0m",
)

SPOKEN = {
    1: "您有新的外卖订单，请及时处理",
    2: "顾客催单，订单号 {number}",
}


@dataclass
class Listener:
    """Prints (and rings, and speaks) each event of a ``ConsoleClient``."""

    client: ConsoleClient
    out: TextIO = sys.stdout
    err: TextIO = sys.stderr
    json_lines: bool = False
    bell: bool = True
    speak: bool = False
    colour: bool = True

    def __post_init__(self) -> None:
        #: The device ids of the last device list shown (None: none shown yet).
        self._devices: frozenset[str] | None = None
        self._espeak = shutil.which("espeak-ng") if self.speak else None
        if self.speak and not self._espeak:
            self._note(
                "espeak-ng is not installed; alerts will not be spoken (apt-get install espeak-ng)"
            )

    async def run(self) -> None:
        """Listen until cancelled.

        Raises:
            LoginFailed: the server refused the login.
        """
        async for event in self.client.events():
            await self.show(event)

    async def show(self, event: Event) -> None:
        """Write one event."""
        if isinstance(event, Alert):
            details = await self._details(event)
            if self.json_lines:
                self._line({"event": "alert", **event.raw, "order": details})
            else:
                self._alert_text(event, details)
            rang = self._ring(event)
            # The shop's report counts from when an alert could first be seen and heard.
            await self.client.ack(event.seq, "shown")
            if rang:
                await self.client.ack(event.seq, "rung")
        elif isinstance(event, Handled):
            if self.json_lines:
                self._line(
                    {
                        "event": "handled",
                        "alertSeq": event.alert_seq,
                        "orderId": event.order_id,
                        "action": event.action,
                        "reply": event.reply,
                    }
                )
            else:
                who = (event.by or {}).get("name") or "the customer"
                reply = f": {event.reply}" if event.reply else ""
                self._print(
                    f"{DIM}  ✓ alert {event.alert_seq} handled ({event.action}) by {who}{reply}{RESET}"
                )
        elif isinstance(event, Reset):
            if self.json_lines:
                self._line(
                    {
                        "event": "reset",
                        "since": event.since,
                        "oldestSeq": event.oldest_seq,
                        "latestSeq": event.latest_seq,
                    }
                )
            else:
                self._print(
                    f"{YELLOW}alerts {event.since + 1}..{event.oldest_seq - 1} are too old to replay; check the order list{RESET}"
                )
        elif isinstance(event, Presence):
            self._presence(event)
        elif isinstance(event, Status):
            if event.state == "connected":
                self._note(
                    f"connected to {self.client.url} as {self.client.username} (shop {self.client.shop_id})"
                )
            else:
                self._note(f"{event.detail}; reconnecting in {event.delay:.1f}s")

    def _presence(self, event: Presence) -> None:
        # A line when devices come or go; a status change alone is not news here.
        ids = frozenset(str(d.get("deviceId")) for d in event.devices)
        if ids == self._devices:
            return
        self._devices = ids
        if self.json_lines:
            self._line(
                {
                    "event": "presence",
                    "shopId": event.shop_id,
                    "online": event.online,
                    "devices": list(event.devices),
                }
            )
            return
        self._print(f"{DIM}{describe_devices(event)}{RESET}")

    async def _details(self, alert: Alert) -> dict[str, Any] | None:
        if alert.order_id is None or alert.raw.get("source") == "api":
            return None
        try:
            return await self.client.order(alert.order_id)
        except ClientError:
            return None

    def _alert_text(self, alert: Alert, details: dict[str, Any] | None) -> None:
        label = (
            f"{RED}{BOLD}[新订单 NEW ORDER]"
            if alert.is_new_order
            else f"{YELLOW}{BOLD}[催单 REMINDER]"
        )
        self._print(
            f"{label}{RESET} {alert.content}  {DIM}#{alert.seq} {alert.created_at or ''}{RESET}"
        )
        if details:
            items = ", ".join(
                f"{d['name']}×{d['number']}" for d in details.get("orderDetailList", [])
            )
            self._print(f"  {items}   {GREEN}¥{details.get('amount', 0):.2f}{RESET}")
            self._print(
                f"  {details.get('consignee', '')} {details.get('phone', '')}  {details.get('address', '')}"
            )
            if details.get("remark"):
                self._print(f"  备注 remark: {details['remark']}")

    def _ring(self, alert: Alert) -> bool:
        """Ring the terminal's bell (and speak); whether anything was sounded."""
        rang = False
        if self.bell and not self.json_lines:
            self.out.write("\a")
            self.out.flush()
            rang = True
        if self._espeak:
            text = SPOKEN.get(alert.type, "").format(number=alert.order_number or "")
            subprocess.Popen(
                [self._espeak, "-v", "cmn", text],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            rang = True
        return rang

    def _print(self, text: str) -> None:
        if not self.colour:
            for code in (BOLD, RED, YELLOW, GREEN, DIM, RESET):
                text = text.replace(code, "")
        print(text, file=self.out, flush=True)

    def _line(self, data: dict[str, Any]) -> None:
        self.out.write(orjson.dumps(data).decode() + "\n")
        self.out.flush()

    def _note(self, text: str) -> None:
        print(text, file=self.err, flush=True)


def describe_devices(event: Presence) -> str:
    """One line for a device list: ``2 devices online: 前台电脑 (browser), listener-1 (listener)``."""
    count = event.online
    noun = "device" if count == 1 else "devices"
    names = ", ".join(f"{d.get('deviceId')} ({d.get('kind')})" for d in event.devices)
    return f"{count} {noun} online: {names}" if names else f"{count} {noun} online"


def default_state_file(url: str, username: str) -> Path:
    """Where ``listen`` keeps its last seq by default (per server and user)."""
    safe = "".join(c if c.isalnum() else "_" for c in f"{url}_{username}")
    return Path.home() / ".local" / "state" / "orderbell" / f"listen-{safe}.seq"


async def listen(listener: Listener) -> None:
    """Log in, then run the listener until cancelled.

    A wrong password ends here at once (``LoginFailed``); a login the server
    cannot answer now (a server error, or the throttle's 429) is left to
    ``events()``, which tries again with backoff.
    """
    try:
        await listener.client.login()
    except ApiError as exc:
        if not exc.transient:
            raise
    try:
        await listener.run()
    finally:
        await listener.client.aclose()


def run(listener: Listener) -> None:
    """``asyncio.run(listen(...))`` with Ctrl-C ending quietly."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(listen(listener))
