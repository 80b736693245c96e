"""How the SDK reads an error answer: which ones are worth trying again, and when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from orderbell.client.console import _unwrap
from orderbell.client.errors import ApiError


def refusal(status: int, headers: dict[str, str] | None = None) -> ApiError:
    response = httpx.Response(
        status, json={"code": 0, "msg": "no", "data": None}, headers=headers or {}
    )
    with pytest.raises(ApiError) as raised:
        _unwrap(response)
    return raised.value


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_are_worth_another_try(status: int) -> None:
    assert refusal(status).transient


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_a_refusal_of_the_request_itself_is_not(status: int) -> None:
    assert not refusal(status).transient


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert refusal(429, {"Retry-After": "7"}).retry_after == 7
    later = datetime.now(UTC) + timedelta(seconds=30)
    wait = refusal(503, {"Retry-After": format_datetime(later, usegmt=True)}).retry_after
    assert wait is not None and 28 <= wait <= 30
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert refusal(503, {"Retry-After": past}).retry_after == 0
    assert refusal(429, {"Retry-After": "soon"}).retry_after is None
    assert refusal(429, {"Retry-After": "inf"}).retry_after is None
    assert refusal(429).retry_after is None


def test_a_server_error_without_json_is_still_an_api_error() -> None:
    with pytest.raises(ApiError) as raised:
        _unwrap(httpx.Response(502, text="Bad Gateway"))
    assert raised.value.transient and raised.value.status == 502
