"""Request bodies, with the original API's camelCase field names.

Amounts are deliberately absent from what a client can set: an order's
amount is computed on the server.

Every string a client sends is refused when it holds a control character
(NUL above all: PostgreSQL cannot store it in text) or half of a UTF-16
surrogate pair (it cannot be written as UTF-8 at all); free text may still
hold line breaks and tabs. Lengths are counted in characters, as the
columns count them, so an emoji is one. Times must fall between 2000 and
2099, so converting them between zones can never overflow.

Numbers and flags are what they claim to be: where a body expects an
integer, JSON ``true``, ``1.0`` and ``"1"`` are refused (``WholeNumber``),
and where it expects a flag, ``1``, ``0`` and ``"true"`` are (``Flag``).
Path and query parameters arrive as text, so there an integer is a plain
decimal number (``DIGITS``): ``?id=true`` and ``?id=1.0`` are refused.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from orderbell.domain.reminders import Reply

_LINE_BREAKS = frozenset("\t\n\r")


def _refuse_control(value: str, *, multiline: bool) -> str:
    for char in value:
        if multiline and char in _LINE_BREAKS:
            continue
        category = unicodedata.category(char)
        if category == "Cc":
            raise ValueError(
                f"must not contain control characters (found U+{ord(char):04X})"
                + ("" if multiline else "; write it on one line")
            )
        if category == "Cs":
            raise ValueError("must be valid Unicode text (found half of a surrogate pair)")
    return value


def clean_line(value: str) -> str:
    """``value`` if it is one line of printable text; raises ``ValueError`` otherwise."""
    return _refuse_control(value, multiline=False)


def clean_text(value: str) -> str:
    """``value`` if it is printable text (line breaks and tabs allowed)."""
    return _refuse_control(value, multiline=True)


#: One line of text (names, numbers, search terms).
Line = Annotated[str, AfterValidator(clean_line)]
#: Free text that may span lines (remarks, reasons).
Text = Annotated[str, AfterValidator(clean_text)]


#: A login name as typed: checked against the accounts, so only kept sane.
LoginName = Annotated[
    str, StringConstraints(min_length=1, max_length=32), AfterValidator(clean_line)
]
#: Province, city or district of an address.
Region = Annotated[str, StringConstraints(max_length=32), AfterValidator(clean_line)]
#: Why the shop rejects or cancels an order, as the customer will read it.
Reason = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    AfterValidator(clean_text),
]

_PHONE_PATTERN = "^1[0-9]{10}$"


def _check_phone(value: str) -> str:
    # ASCII digits only: a regex \d would also take Arabic-Indic and other digits.
    if len(value) != 11 or value[0] != "1" or not all("0" <= c <= "9" for c in value):
        raise ValueError("must be a mobile number: 11 digits (0-9) starting with 1")
    return value


Phone = Annotated[
    str,
    AfterValidator(_check_phone),
    WithJsonSchema({"type": "string", "pattern": _PHONE_PATTERN, "example": "13800000001"}),
]
Password = Annotated[str, StringConstraints(min_length=6, max_length=64)]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=32),
    AfterValidator(clean_line),
]
#: An integer in a JSON body: a JSON integer, never ``true``, ``1.0`` or ``"1"``.
WholeNumber = Annotated[int, Strict()]
#: A flag in a JSON body: ``true`` or ``false``, never ``1``, ``0`` or ``"true"``.
Flag = Annotated[bool, Strict()]

# What a decimal integer in a query string or a path looks like: ASCII
# digits with an optional sign, spaces around them forgiven (as the original
# API's parameter binding did). No exponent, decimal point, underscore or word.
_DIGITS = re.compile(r" *([+-]?[0-9]+) *")


def exact_int(value: object) -> object:
    """``value`` if it is an integer proper; ``ValueError`` for a bool, a float or a string.

    For fields that cannot be declared ``WholeNumber`` (a ``Literal`` of numbers)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a whole number, not true/false, a fraction or text")
    return value


def _digits(value: object) -> object:
    if isinstance(value, str):
        match = _DIGITS.fullmatch(value)
        if match is None:
            raise ValueError("must be a whole number written in digits (0-9)")
        if len(match.group(1)) > 30:
            # Far beyond any bound; not worth converting.
            raise ValueError("is far too large a number")
        return int(match.group(1))
    return exact_int(value)


#: Put after ``Path(...)`` or ``Query(...)`` of an ``int``: the text must be plain
#: decimal digits. (After them, so that their bounds stay in the OpenAPI document.)
DIGITS = BeforeValidator(_digits)

Id = Annotated[WholeNumber, Field(ge=1, le=2**31 - 1)]
ADDRESS_MAX = 255

#: The range of times accepted anywhere: wide for any real order, narrow
#: enough that no conversion between zones leaves what a datetime can hold.
EARLIEST = datetime(2000, 1, 1)
LATEST = datetime(2099, 12, 31, 23, 59, 59)


def _parse_time(value: object) -> object:
    # The original sends "yyyy-MM-dd HH:mm:ss"; ISO 8601 is accepted too.
    if isinstance(value, str) and len(value) == 19 and value[10] == " ":
        return value.replace(" ", "T")
    return value


def _check_year(value: datetime) -> datetime:
    if not EARLIEST.year <= value.year <= LATEST.year:
        raise ValueError(
            f"must be a time between {EARLIEST.year} and {LATEST.year}, "
            'written "yyyy-MM-dd HH:mm:ss"'
        )
    return value


LocalTime = Annotated[datetime, BeforeValidator(_parse_time), AfterValidator(_check_year)]


class Body(BaseModel):
    """Base of request bodies: camelCase names, unknown fields ignored, no control
    characters in any string (free-text fields declare ``Text`` to allow line breaks)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    @field_validator("*", mode="after")
    @classmethod
    def _printable(cls, value: Any) -> Any:
        # A safety net for every string field, including those of bodies
        # declared elsewhere: line breaks are allowed here, so that ``Text``
        # fields keep them; ``Line`` fields refuse them themselves.
        if isinstance(value, str):
            return clean_text(value)
        return value


class CustomerRegister(Body):
    """Sign-up of a customer."""

    phone: Phone
    password: Password
    name: Name


class CustomerLogin(Body):
    """A customer's login."""

    phone: LoginName
    password: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class MerchantLogin(Body):
    """A merchant's login."""

    username: LoginName
    password: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class AddressCreate(Body):
    """A new delivery address."""

    consignee: Name
    sex: Annotated[str, StringConstraints(pattern=r"^[01]$")] = "1"
    phone: Phone
    province_name: Region = ""
    city_name: Region = ""
    district_name: Region = ""
    detail: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
        AfterValidator(clean_line),
    ]
    label: Annotated[str, StringConstraints(max_length=100), AfterValidator(clean_line)] = ""
    is_default: Flag = False

    @model_validator(mode="after")
    def _fits_an_order(self) -> AddressCreate:
        # An order stores the address as one string of at most 255 characters.
        parts = (self.province_name, self.city_name, self.district_name, self.detail)
        if sum(map(len, parts)) > ADDRESS_MAX:
            raise ValueError(
                f"the address is too long: province, city, district and detail together "
                f"may have at most {ADDRESS_MAX} characters"
            )
        return self


class CartAdd(Body):
    """One more of a dish into the cart."""

    dish_id: Id


class OrderSubmit(Body):
    """An order from the cart; ``amount`` and ``packAmount`` are accepted and ignored."""

    address_book_id: Id
    pay_method: Annotated[WholeNumber, Field(ge=1, le=2)] = 1
    remark: Annotated[str, StringConstraints(max_length=100), AfterValidator(clean_text)] = ""
    estimated_delivery_time: LocalTime | None = None
    delivery_status: Annotated[WholeNumber, Field(ge=0, le=1)] = 1
    tableware_number: Annotated[WholeNumber, Field(ge=0, le=99)] = 0
    tableware_status: Annotated[WholeNumber, Field(ge=0, le=1)] = 1


class OrderPayment(Body):
    """Payment of an order, by its number."""

    order_number: Annotated[
        str, StringConstraints(min_length=1, max_length=50), AfterValidator(clean_line)
    ]
    pay_method: Annotated[WholeNumber, Field(ge=1, le=2)] = 1


class OrderId(Body):
    """An order, by its id."""

    id: Id


#: Minutes an order takes to prepare, as a shop accepts it (1 to 180).
PrepMinutes = Annotated[WholeNumber, Field(ge=1, le=180)]


class OrderConfirm(Body):
    """Acceptance of an order; ``prepMinutes`` (optional) sets its estimated time from now."""

    id: Id
    prep_minutes: PrepMinutes | None = None


class ShopPrepTime(Body):
    """A shop's usual preparation time, the default its console offers when accepting."""

    prep_minutes: PrepMinutes


class OrderRejection(Body):
    """Rejection of an order, with the reason the customer will see."""

    id: Id
    rejection_reason: Reason


class OrderCancel(Body):
    """Cancellation of an order by the shop, with the reason the customer will see."""

    id: Id
    cancel_reason: Reason


class ReminderReply(Body):
    """A shop's answer to an order's open reminders: a fixed choice, or ``custom`` with text."""

    order_id: Id
    reply: Reply
    text: (
        Annotated[
            str, StringConstraints(strip_whitespace=True, max_length=30), AfterValidator(clean_line)
        ]
        | None
    ) = None


class AlertSeq(Body):
    """One alert of the shop, by its seq."""

    seq: Annotated[WholeNumber, Field(ge=1, le=2**62)]
