"""When a customer may ask a shop to hurry (催单)."""

from __future__ import annotations

from enum import StrEnum

from orderbell.domain.errors import BusinessError, NotFound
from orderbell.domain.orders import OrderStatus, PayStatus, describe

#: States in which a reminder makes sense: paid, and not yet finished.
REMINDABLE = frozenset(
    {OrderStatus.TO_BE_CONFIRMED, OrderStatus.CONFIRMED, OrderStatus.DELIVERY_IN_PROGRESS}
)


def check_reminder(
    *, order_customer_id: int, customer_id: int, status: OrderStatus, pay_status: PayStatus
) -> None:
    """Refuse a reminder that the rules do not allow; return quietly otherwise.

    Raises:
        NotFound: the order is not the customer's own (told as "not found", so
            that order ids of others cannot be probed).
        BusinessError: the order is not in a state in which a reminder helps.
    """
    if order_customer_id != customer_id:
        raise NotFound("Order not found.")
    if status not in REMINDABLE or pay_status is not PayStatus.PAID:
        raise BusinessError(f"Cannot remind the shop: the order is {describe(status)}.")


class Reply(StrEnum):
    """The answers a shop can give to a reminder, as takeout platforms offer them."""

    OUT_FOR_DELIVERY = "out_for_delivery"
    COOKING = "cooking"
    WEATHER_DELAY = "weather_delay"
    SHORT_HANDED = "short_handed"
    CUSTOM = "custom"


REPLY_TEXT = {
    Reply.OUT_FOR_DELIVERY: "已出餐，骑手正在配送中",
    Reply.COOKING: "正在加急制作中",
    Reply.WEATHER_DELAY: "天气原因，配送稍有延迟，请耐心等待",
    Reply.SHORT_HANDED: "店内繁忙，人手紧张，请耐心等待",
}
MAX_CUSTOM_REPLY = 30


def reply_text(choice: Reply, custom: str | None = None) -> str:
    """The text the customer sees for a reply.

    Raises:
        BusinessError: a custom reply without text or longer than MAX_CUSTOM_REPLY.
    """
    if choice is not Reply.CUSTOM:
        return REPLY_TEXT[choice]
    text = (custom or "").strip()
    if not text:
        raise BusinessError("A custom reply needs a text.")
    if len(text) > MAX_CUSTOM_REPLY:
        raise BusinessError(f"A custom reply may have at most {MAX_CUSTOM_REPLY} characters.")
    return text
