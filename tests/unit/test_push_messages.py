"""What a push says (pure), and the readiness fields a console's status frame may carry."""

from __future__ import annotations

import pytest

from orderbell.delivery.presence.registry import parse_status
from orderbell.domain.push import alert_message, handled_message


def test_a_reminder_replaces_its_orders_notification_and_alerts_again() -> None:
    new = alert_message(
        shop_id=3, seq=10, type=1, order_id=42, order_number="20261207000042", content="订单号：x"
    )
    reminder = alert_message(
        shop_id=3, seq=11, type=2, order_id=42, order_number="20261207000042", content="催"
    )
    closed = handled_message(shop_id=3, order_id=42, order_number="20261207000042")
    assert new["tag"] == reminder["tag"] == closed["tag"]
    assert (new["renotify"], reminder["renotify"]) == (False, True)
    assert (new["title"], reminder["title"]) == ("新订单 #0042", "催单 #0042")
    # An alert of another order system has no order of ours: one notification per alert.
    other = alert_message(
        shop_id=3, seq=12, type=1, order_id=None, order_number="EXT-9", content="外部"
    )
    assert other["tag"] != new["tag"] and other["orderId"] is None


def test_readiness_fields_of_a_status_frame() -> None:
    status = parse_status(
        {"ready": False, "wakeLock": True, "push": False, "problems": ["push", "sound", "push"]}
    )
    assert status == {
        "ready": False,
        "wakeLock": True,
        "push": False,
        "problems": ["sound", "push"],
    }
    for bad in (
        {"ready": "yes"},
        {"problems": "sound"},
        {"problems": ["battery"]},
        {"problems": ["sound"] * 7},
    ):
        with pytest.raises(ValueError):
            parse_status(bad)
