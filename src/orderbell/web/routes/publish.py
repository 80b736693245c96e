"""The publish API (prefix ``/api/v1``): other order systems raise alerts through orderbell."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Response
from pydantic import BeforeValidator, Field, StringConstraints

from orderbell.domain.alerts import AlertType
from orderbell.services import publishing
from orderbell.web.deps import Parts
from orderbell.web.envelope import ok
from orderbell.web.schemas import DIGITS, Body, WholeNumber, exact_int

router = APIRouter(prefix="/api/v1", tags=["publish API"])


class ExternalAlert(Body):
    """An alert about an order of the calling system."""

    type: Annotated[Literal[1, 2], BeforeValidator(exact_int)] = Field(
        description="1 new order, 2 customer reminder"
    )
    order_number: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)
    ]
    order_id: Annotated[WholeNumber, Field(ge=1, le=2**62)] | None = Field(
        None, description="The order's id in the calling system (becomes the frame's orderId)."
    )
    text: Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)] | None = Field(
        None, description="A short note shown after the order number."
    )


@router.post("/shops/{shop_id}/alerts", status_code=201)
async def publish_alert(
    body: ExternalAlert,
    parts: Parts,
    response: Response,
    shop_id: Annotated[int, Path(ge=1, le=2**31 - 1), DIGITS],
    x_api_key: Annotated[str | None, Header(max_length=200)] = None,
    authorization: Annotated[str | None, Header(max_length=250)] = None,
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=128)] = None,
) -> dict[str, Any]:
    """Raise a new-order or reminder alert for your own order; a retried call with the
    same `Idempotency-Key` returns the first call's alert (status 200) instead of a new one."""
    bearer = (
        authorization[7:] if authorization and authorization.lower().startswith("bearer ") else None
    )
    await publishing.authorize(parts.database, x_api_key or bearer, shop_id)
    alert, created = await publishing.publish_external(
        parts.outbox,
        shop_id,
        type=AlertType(body.type),
        order_number=body.order_number,
        external_order_id=body.order_id,
        text=body.text,
        idempotency_key=idempotency_key,
    )
    if not created:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
    return ok(alert.frame())
