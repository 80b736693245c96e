"""The rules at the door: request text, times, origins, settings, the frame budget
of a console, and the OpenAPI document of the envelope."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from orderbell.settings import DEVELOPMENT_SECRET, Settings
from orderbell.web import live_console
from orderbell.web.guards import origin_allowed
from orderbell.web.live_console import FrameBudget
from orderbell.web.openapi import rewrite
from orderbell.web.schemas import (
    AddressCreate,
    CustomerRegister,
    OrderRejection,
    OrderSubmit,
    clean_line,
    clean_text,
)

GOOD_SECRET = "a-secret-of-our-own-that-is-long-enough"


@pytest.mark.parametrize(
    ("text", "line", "multiline"),
    [
        ("少放辣 🌶️ <b>x</b> ' OR 1=1 --", True, True),
        ("two\nlines\tand a tab\r\n", False, True),
        ("nul\x00", False, False),
        ("bell\x07", False, False),
        ("escape\x1b[31m", False, False),
        ("del is printable\x7f", False, False),
        ("c1\x85", False, False),
        ("half\ud800", False, False),
        ("", True, True),
    ],
)
def test_control_characters_and_surrogates_are_refused(
    text: str, line: bool, multiline: bool
) -> None:
    for check, ok in ((clean_line, line), (clean_text, multiline)):
        if ok:
            assert check(text) == text
        else:
            with pytest.raises(ValueError):
                check(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=120))
def test_whatever_text_gets_in_can_be_stored_anywhere(text: str) -> None:
    """A remark either is refused or is text PostgreSQL and UTF-8 can hold."""
    try:
        body = OrderSubmit.model_validate({"addressBookId": 1, "remark": text})
    except ValidationError:
        return
    assert "\x00" not in body.remark
    body.remark.encode("utf-8")
    assert len(body.remark) <= 100


@pytest.mark.parametrize(
    "phone",
    ["13800000001", "19999999999"],
)
def test_phones_are_eleven_ascii_digits_starting_with_one(phone: str) -> None:
    CustomerRegister.model_validate({"phone": phone, "password": "secret1", "name": "x"})


@pytest.mark.parametrize(
    "phone",
    ["1380000000", "23800000001", "1٣٨٠٠٠٠٠٠٠٠", "１３８００００００００１", "13800000001\n"],
)
def test_other_phones_are_refused(phone: str) -> None:
    with pytest.raises(ValidationError, match="11 digits"):
        CustomerRegister.model_validate({"phone": phone, "password": "secret1", "name": "x"})


def test_blank_names_and_reasons_are_refused_after_trimming() -> None:
    with pytest.raises(ValidationError, match="at least 1"):
        CustomerRegister.model_validate(
            {"phone": "13800000001", "password": "secret1", "name": " "}
        )
    with pytest.raises(ValidationError, match="at least 1"):
        OrderRejection.model_validate({"id": 1, "rejectionReason": " \n "})
    name = CustomerRegister.model_validate(
        {"phone": "13800000001", "password": "secret1", "name": " 张三 "}
    ).name
    assert name == "张三"


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2026-11-26 12:00:00", True),
        ("2026-11-26T12:00:00+08:00", True),
        ("1999-12-31 23:59:59", False),
        ("2100-01-01 00:00:00", False),
        ("0001-01-01 00:00:00", False),
        ("9999-12-31T23:59:59-14:00", False),
    ],
)
def test_times_stay_where_zone_conversions_cannot_overflow(value: str, ok: bool) -> None:
    body = {"addressBookId": 1, "estimatedDeliveryTime": value}
    if ok:
        got = OrderSubmit.model_validate(body).estimated_delivery_time
        assert isinstance(got, datetime)
    else:
        with pytest.raises(ValidationError, match="between 2000 and 2099"):
            OrderSubmit.model_validate(body)


def test_an_address_must_fit_the_orders_address_column() -> None:
    base = {"consignee": "李四", "phone": "13800000001", "provinceName": "p" * 32}
    AddressCreate.model_validate({**base, "cityName": "c" * 23, "detail": "d" * 200})
    with pytest.raises(ValidationError, match="at most 255"):
        AddressCreate.model_validate({**base, "cityName": "c" * 24, "detail": "d" * 200})


HOST = "shop.example:8080"


@pytest.mark.parametrize(
    ("origin", "host", "allowed", "ok"),
    [
        (None, HOST, [], True),
        ("http://shop.example:8080", HOST, [], True),
        ("https://SHOP.example:8080/", HOST, [], True),
        ("https://shop.example", "shop.example", [], True),
        ("https://shop.example", "shop.example:443", [], True),
        ("http://shop.example", "shop.example:80", [], True),
        ("https://shop.example", "shop.example:80", [], False),
        ("http://shop.example:8081", HOST, [], False),
        ("http://evil.example", HOST, [], False),
        ("http://evil.example", HOST, ["http://evil.example"], True),
        ("http://evil.example:1", HOST, ["http://evil.example"], False),
        ("null", HOST, [], False),
        ("null", "null", [], False),
        ("", HOST, [], False),
        ("http://shop.example:8080", None, [], False),
        ("http://shop.example:99999", "shop.example:99999", [], False),
        ("http://[::1]:8080", "[::1]:8080", [], True),
        ("http://user@shop.example:8080", HOST, [], True),
        ("javascript:alert(1)", HOST, [], False),
    ],
)
def test_console_origins(
    origin: str | None, host: str | None, allowed: list[str], ok: bool
) -> None:
    assert origin_allowed(origin, host, allowed) is ok


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(ValidationError, match="ORDERBELL_SECRET_KEY"):
        Settings(environment="production")
    with pytest.raises(ValidationError, match="ORDERBELL_SECRET_KEY"):
        Settings(environment="production", secret_key=DEVELOPMENT_SECRET)
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(environment="production", secret_key="short-but-16-long")
    assert Settings(environment="production", secret_key=GOOD_SECRET).secret_key == GOOD_SECRET
    assert Settings().secret_key == DEVELOPMENT_SECRET


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", []),
        ("https://a.example", ["https://a.example"]),
        (
            "https://A.example/, http://localhost:3000",
            ["https://a.example", "http://localhost:3000"],
        ),
        (["http://[::1]:8080"], ["http://[::1]:8080"]),
    ],
)
def test_allowed_origins_are_read_and_normalized(raw: Any, expected: list[str]) -> None:
    assert Settings(allowed_origins=raw).allowed_origins == expected


@pytest.mark.parametrize(
    "raw", ["*", "https://a.example/path", "a.example", "ws://a.example", "https://a b.example"]
)
def test_things_that_are_not_origins_are_refused(raw: str) -> None:
    with pytest.raises(ValidationError, match="not an origin"):
        Settings(allowed_origins=raw)


def test_a_console_may_send_a_burst_then_a_trickle(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(live_console.time, "monotonic", lambda: clock[0])
    budget = FrameBudget(burst=5, per_second=2.0)
    assert all(budget.take() for _ in range(5))
    assert not budget.take()
    clock[0] += 1.0  # two more frames' worth
    assert budget.take() and budget.take() and not budget.take()
    clock[0] += 3600  # a long quiet spell refills only up to the burst
    assert sum(budget.take() for _ in range(10)) == 5


class Thing(BaseModel):
    """A body for the OpenAPI test."""

    id: int


def test_the_openapi_document_shows_the_envelope_and_not_fastapis_errors() -> None:
    app = FastAPI()

    @app.post("/things/{n}")
    async def make(n: int, body: Thing) -> dict[str, Any]:
        return {"code": 1, "msg": None, "data": body.id + n}

    doc = rewrite(app.openapi())
    responses = doc["paths"]["/things/{n}"]["post"]["responses"]
    error_ref = {"$ref": "#/components/schemas/ErrorEnvelope"}
    assert responses["422"]["content"]["application/json"]["schema"] == error_ref
    assert responses["default"]["content"]["application/json"]["schema"] == error_ref
    assert responses["429"]["content"]["application/json"]["schema"] == error_ref
    success = {"$ref": "#/components/schemas/Envelope"}
    assert responses["200"]["content"]["application/json"]["schema"] == success
    assert responses["2XX"]["content"]["application/json"]["schema"] == success
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert schemas["ErrorEnvelope"]["properties"]["code"]["enum"] == [0]
