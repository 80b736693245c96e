"""How stored things are shown in responses: camelCase, times in the shop's zone."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from orderbell.domain.addresses import tidy_address
from orderbell.services.order_views import OrderView, Page
from orderbell.storage.tables import AddressBook, Dish, Order, ShoppingCart

TIME_FORMAT = "%Y-%m-%d %H:%M"


class Presenter:
    """Turns rows into the original API's JSON shapes."""

    def __init__(self, timezone: str) -> None:
        self.zone = ZoneInfo(timezone)

    @staticmethod
    def money(value: Decimal) -> float:
        """An amount as a JSON number, as the original writes its BigDecimals."""
        return float(value)

    def time(self, value: datetime | None) -> str | None:
        """A stored (naive UTC) time as "yyyy-MM-dd HH:mm" in the configured zone."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC).astimezone(self.zone).strftime(TIME_FORMAT)

    def to_utc(self, value: datetime | None) -> datetime | None:
        """A time given in the configured zone (or with its own offset) as naive UTC."""
        if value is None:
            return None
        aware = value if value.tzinfo else value.replace(tzinfo=self.zone)
        return aware.astimezone(UTC).replace(tzinfo=None)

    def dish(self, dish: Dish) -> dict[str, Any]:
        """A dish of the menu."""
        return {
            "id": dish.id,
            "shopId": dish.shop_id,
            "name": dish.name,
            "price": self.money(dish.price),
            "image": dish.image,
            "description": dish.description,
            "status": dish.status,
        }

    def address(self, a: AddressBook) -> dict[str, Any]:
        """A delivery address."""
        return {
            "id": a.id,
            "userId": a.customer_id,
            "consignee": a.consignee,
            "sex": a.sex,
            "phone": a.phone,
            "provinceName": a.province_name,
            "cityName": a.city_name,
            "districtName": a.district_name,
            "detail": a.detail,
            "label": a.label,
            "isDefault": 1 if a.is_default else 0,
        }

    def cart_line(self, line: ShoppingCart) -> dict[str, Any]:
        """A line of the cart."""
        return {
            "id": line.id,
            "shopId": line.shop_id,
            "userId": line.customer_id,
            "dishId": line.dish_id,
            "name": line.name,
            "image": line.image,
            "number": line.number,
            "amount": self.money(line.amount),
            "createTime": self.time(line.created_at),
        }

    def order(self, view: OrderView) -> dict[str, Any]:
        """An order with its lines, as the original's OrderVO."""
        o: Order = view.order
        return {
            "id": o.id,
            "shopId": o.shop_id,
            "number": o.number,
            "status": o.status,
            "userId": o.user_id,
            "addressBookId": o.address_book_id,
            "orderTime": self.time(o.order_time),
            "checkoutTime": self.time(o.checkout_time),
            "payMethod": o.pay_method,
            "payStatus": o.pay_status,
            "amount": self.money(o.amount),
            "remark": o.remark,
            "phone": o.phone,
            "address": tidy_address(o.address),
            "consignee": o.consignee,
            "cancelReason": o.cancel_reason,
            "rejectionReason": o.rejection_reason,
            "cancelTime": self.time(o.cancel_time),
            "estimatedDeliveryTime": self.time(o.estimated_delivery_time),
            "deliveryStatus": o.delivery_status,
            "deliveryTime": self.time(o.delivery_time),
            "packAmount": self.money(o.pack_amount),
            "deliveryFee": self.money(o.delivery_fee),
            "tablewareNumber": o.tableware_number,
            "tablewareStatus": o.tableware_status,
            "reminderReply": view.reminder_reply,
            "orderDishes": ";".join(f"{d.name}*{d.number}" for d in view.details),
            "orderDetailList": [
                {
                    "id": d.id,
                    "orderId": d.order_id,
                    "dishId": d.dish_id,
                    "setmealId": d.setmeal_id,
                    "name": d.name,
                    "image": d.image,
                    "dishFlavor": d.dish_flavor,
                    "number": d.number,
                    "amount": self.money(d.amount),
                }
                for d in view.details
            ],
        }

    def page(self, page: Page) -> dict[str, Any]:
        """A page of orders: ``{"total", "records"}``."""
        return {"total": page.total, "records": [self.order(v) for v in page.records]}
