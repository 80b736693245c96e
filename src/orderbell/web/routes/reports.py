"""A shop's reports (prefix ``/admin/report``), with days given as the original's
report endpoints take them: ``begin`` and ``end``, ``yyyy-MM-dd``, both included."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator, WithJsonSchema

from orderbell.domain.response_times import MAX_DAYS
from orderbell.services.alert_report import alert_report
from orderbell.web.deps import Merchant, Parts
from orderbell.web.envelope import ok
from orderbell.web.schemas import EARLIEST, LATEST

router = APIRouter(prefix="/admin/report", tags=["shop reports"])

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _day(value: object) -> object:
    # Only yyyy-MM-dd: a bare number is not read as a UNIX time, nor a
    # date-time as its day.
    if not isinstance(value, str) or not _DAY.fullmatch(value):
        raise ValueError("must be a day written yyyy-MM-dd")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a day of the calendar, written yyyy-MM-dd") from None
    if not EARLIEST.year <= day.year <= LATEST.year:
        raise ValueError(f"must be a day between {EARLIEST.year} and {LATEST.year}")
    return day


Day = Annotated[
    date,
    BeforeValidator(_day),
    WithJsonSchema({"type": "string", "format": "date", "example": "2026-12-07"}),
]


def _refuse(field: str, message: str) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": ("query", field), "msg": message, "type": "value_error", "input": None}]
    )


@router.get("/alerts")
async def alerts(
    me: Merchant,
    parts: Parts,
    begin: Annotated[Day | None, Query(description="First day, yyyy-MM-dd (today)")] = None,
    end: Annotated[Day | None, Query(description="Last day, yyyy-MM-dd (today)")] = None,
) -> dict[str, Any]:
    """How fast your shop answers, for the orders paid from `begin` to `end` (days in
    the shop's time zone, both included; each defaults to today; at most 31 days):
    orders paid, accepted and cancelled for want of acceptance; median and 90th
    percentile seconds from payment to the first ring on a console and to acceptance;
    reminders per order; and the same for each hour of the day (`hours`)."""
    zone = parts.presenter.zone
    today = datetime.now(zone).date()
    first = begin or today
    last = end or today
    if last < first:
        raise _refuse("end", "must not be before begin")
    if (last - first).days + 1 > MAX_DAYS:
        raise _refuse("end", f"the range may cover at most {MAX_DAYS} days")
    return ok(await alert_report(parts.database, me.shop, first, last, zone))
