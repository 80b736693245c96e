"""Whether a shop takes orders: open (营业中), closed by hand (打烊), or paused by the system.

A merchant opens and closes the shop; the system pauses an open shop (for
example when no console of it is online) and resumes it once the reason is
gone. A pause never overrides the merchant: only an open shop is paused, and
only a paused shop is resumed, so a shop closed by hand stays closed. The
original API speaks of the status as one integer, 1 taking orders and 0 not;
``original_code`` gives it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ShopStatus(StrEnum):
    """A shop's status as stored and as frames and details name it."""

    OPEN = "open"
    CLOSED = "closed"
    PAUSED = "paused"


class Actor(StrEnum):
    """Who changed a shop's status."""

    MERCHANT = "merchant"
    SYSTEM = "system"


#: Why a merchant's change happened, as the history records it.
BY_HAND = "by_hand"
#: The reason the coming pause sweep gives when no console of the shop listens.
NO_CONSOLE_ONLINE = "no_console_online"

CLOSED_MESSAGE = "店铺已打烊 / The shop is closed and is not taking orders."
PAUSED_MESSAGE = "店铺暂停接单 / The shop cannot take orders right now; please try again later."


def takes_orders(status: ShopStatus) -> bool:
    """Whether a customer may submit an order to a shop in ``status``."""
    return status is ShopStatus.OPEN


def original_code(status: ShopStatus) -> int:
    """The original API's integer: 1 taking orders, 0 not (a paused shop is 0)."""
    return 1 if takes_orders(status) else 0


def from_original_code(code: int) -> ShopStatus:
    """The status a merchant asks for with the original's integer (1 open, 0 closed).

    Raises:
        ValueError: ``code`` is neither 1 nor 0.
    """
    if code == 1:
        return ShopStatus.OPEN
    if code == 0:
        return ShopStatus.CLOSED
    raise ValueError(f"shop status must be 1 (open) or 0 (closed), not {code!r}")


def refusal(status: ShopStatus) -> str | None:
    """What a customer is told when submitting to a shop in ``status``; None if it takes orders."""
    if status is ShopStatus.CLOSED:
        return CLOSED_MESSAGE
    if status is ShopStatus.PAUSED:
        return PAUSED_MESSAGE
    return None


@dataclass(frozen=True, slots=True)
class Change:
    """A move of a shop's status; ``changed`` is False when it stays where it is."""

    before: ShopStatus
    after: ShopStatus

    @property
    def changed(self) -> bool:
        """Whether the status differs after the move."""
        return self.before is not self.after


def set_by_merchant(current: ShopStatus, wanted: ShopStatus) -> Change:
    """A merchant opens or closes the shop, from whatever state it is in.

    Opening a paused shop opens it; closing it closes it (the pause no longer
    matters once a person decided).

    Raises:
        ValueError: ``wanted`` is ``paused``: only the system pauses.
    """
    if wanted is ShopStatus.PAUSED:
        raise ValueError("a merchant opens or closes a shop; only the system pauses it")
    return Change(current, wanted)


def pause(current: ShopStatus) -> Change:
    """The system pauses the shop: only an open shop becomes paused."""
    return Change(current, ShopStatus.PAUSED if current is ShopStatus.OPEN else current)


def resume(current: ShopStatus) -> Change:
    """The system resumes the shop: only a paused shop opens again, never one closed by hand."""
    return Change(current, ShopStatus.OPEN if current is ShopStatus.PAUSED else current)
