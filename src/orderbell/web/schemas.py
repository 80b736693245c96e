"""Request bodies, with the original API's camelCase field names.

Amounts are deliberately absent from what a client can set: an order's
amount is computed on the server.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from orderbell.domain.reminders import Reply

Phone = Annotated[str, StringConstraints(pattern=r"^1\d{10}$")]
Password = Annotated[str, StringConstraints(min_length=6, max_length=64)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
Id = Annotated[int, Field(ge=1, le=2**31 - 1)]


def _parse_time(value: object) -> object:
    # The original sends "yyyy-MM-dd HH:mm:ss"; ISO 8601 is accepted too.
    if isinstance(value, str) and len(value) == 19 and value[10] == " ":
        return value.replace(" ", "T")
    return value


LocalTime = Annotated[datetime, BeforeValidator(_parse_time)]


class Body(BaseModel):
    """Base of request bodies: camelCase names, unknown fields ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class CustomerRegister(Body):
    """Sign-up of a customer."""

    phone: Phone
    password: Password
    name: Name


class CustomerLogin(Body):
    """A customer's login."""

    phone: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class MerchantLogin(Body):
    """A merchant's login."""

    username: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class AddressCreate(Body):
    """A new delivery address."""

    consignee: Name
    sex: Annotated[str, StringConstraints(pattern=r"^[01]$")] = "1"
    phone: Phone
    province_name: Annotated[str, StringConstraints(max_length=32)] = ""
    city_name: Annotated[str, StringConstraints(max_length=32)] = ""
    district_name: Annotated[str, StringConstraints(max_length=32)] = ""
    detail: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    label: Annotated[str, StringConstraints(max_length=100)] = ""
    is_default: bool = False


class CartAdd(Body):
    """One more of a dish into the cart."""

    dish_id: Id


class OrderSubmit(Body):
    """An order from the cart; ``amount`` and ``packAmount`` are accepted and ignored."""

    address_book_id: Id
    pay_method: Annotated[int, Field(ge=1, le=2)] = 1
    remark: Annotated[str, StringConstraints(max_length=100)] = ""
    estimated_delivery_time: LocalTime | None = None
    delivery_status: Annotated[int, Field(ge=0, le=1)] = 1
    tableware_number: Annotated[int, Field(ge=0, le=99)] = 0
    tableware_status: Annotated[int, Field(ge=0, le=1)] = 1


class OrderPayment(Body):
    """Payment of an order, by its number."""

    order_number: Annotated[str, StringConstraints(min_length=1, max_length=50)]
    pay_method: Annotated[int, Field(ge=1, le=2)] = 1


class OrderId(Body):
    """An order, by its id."""

    id: Id


class OrderRejection(Body):
    """Rejection of an order, with the reason the customer will see."""

    id: Id
    rejection_reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)
    ]


class OrderCancel(Body):
    """Cancellation of an order by the shop, with the reason the customer will see."""

    id: Id
    cancel_reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)
    ]


class ReminderReply(Body):
    """A shop's answer to an order's open reminders: a fixed choice, or ``custom`` with text."""

    order_id: Id
    reply: Reply
    text: Annotated[str, StringConstraints(strip_whitespace=True, max_length=30)] | None = None
