"""Alert text and frames, and the reminder rules."""

from __future__ import annotations

from datetime import datetime

import orjson
import pytest

from orderbell.delivery.frames import encode_alert
from orderbell.domain.alerts import Alert, AlertType, alert_content
from orderbell.domain.errors import BusinessError, NotFound
from orderbell.domain.orders import OrderStatus, PayStatus
from orderbell.domain.reminders import check_reminder


def test_content_uses_the_originals_full_width_colon() -> None:
    assert alert_content("1700000000000") == "订单号：1700000000000"


def test_frame_is_a_superset_of_the_original() -> None:
    alert = Alert(
        shop_id=3,
        seq=7,
        type=AlertType.NEW_ORDER,
        order_id=42,
        order_number="123",
        content=alert_content("123"),
        created_at=datetime(2026, 1, 2, 3, 4, 5, 678000),
    )
    frame = orjson.loads(encode_alert(alert))
    assert frame["type"] == 1
    assert frame["orderId"] == 42
    assert frame["content"] == "订单号：123"
    assert frame["seq"] == 7
    assert frame["shopId"] == 3
    assert frame["createdAt"] == "2026-01-02T03:04:05.678Z"


@pytest.mark.parametrize(
    "status", [OrderStatus.TO_BE_CONFIRMED, OrderStatus.CONFIRMED, OrderStatus.DELIVERY_IN_PROGRESS]
)
def test_own_paid_open_order_may_be_reminded(status: OrderStatus) -> None:
    check_reminder(order_customer_id=1, customer_id=1, status=status, pay_status=PayStatus.PAID)


def test_someone_elses_order_is_not_found() -> None:
    with pytest.raises(NotFound):
        check_reminder(
            order_customer_id=1,
            customer_id=2,
            status=OrderStatus.TO_BE_CONFIRMED,
            pay_status=PayStatus.PAID,
        )


@pytest.mark.parametrize(
    ("status", "pay", "word"),
    [
        (OrderStatus.PENDING_PAYMENT, PayStatus.UNPAID, "waiting for payment"),
        (OrderStatus.COMPLETED, PayStatus.PAID, "completed"),
        (OrderStatus.CANCELLED, PayStatus.REFUND, "cancelled"),
    ],
)
def test_reminder_outside_the_window_says_why(
    status: OrderStatus, pay: PayStatus, word: str
) -> None:
    with pytest.raises(BusinessError, match=word):
        check_reminder(order_customer_id=1, customer_id=1, status=status, pay_status=pay)
