"""A shop's webhook endpoints and their deliveries (prefix ``/admin/webhooks``).

Every route takes the merchant token and sees only the merchant's own
shop: its endpoints, and the deliveries to them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import AfterValidator, Field, StringConstraints, field_validator

from orderbell.domain.events import EventType
from orderbell.services import webhooks
from orderbell.web.deps import Merchant, Parts
from orderbell.web.envelope import ok
from orderbell.web.schemas import DIGITS, Body, clean_line

router = APIRouter(prefix="/admin/webhooks", tags=["webhooks"])

IdPath = Annotated[int, Path(ge=1, le=2**31 - 1), DIGITS]
State = Literal["queued", "delivered", "failed"]


def _url(value: str) -> str:
    # The same check as the service's, as a field error (422) rather than a refusal.
    try:
        webhooks.parse_url(value)
    except webhooks.Refused as exc:
        raise ValueError(exc.message) from exc
    return value


class WebhookCreate(Body):
    """A new endpoint of the shop."""

    url: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=2048),
        AfterValidator(clean_line),
        AfterValidator(_url),
    ] = Field(description="http:// or https:// URL the events are POSTed to.")
    events: list[str] = Field(
        min_length=1,
        max_length=len(webhooks.EVENT_NAMES),
        description="Event names: " + ", ".join(webhooks.EVENT_NAMES),
    )
    description: Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=255), AfterValidator(clean_line)
    ] = ""

    @field_validator("events")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in webhooks.EVENT_NAMES:
                raise ValueError(
                    f"unknown event {name!r}; the events are: {', '.join(webhooks.EVENT_NAMES)}"
                )
        return list(dict.fromkeys(value))


@router.get("")
async def list_endpoints(me: Merchant, parts: Parts) -> dict[str, Any]:
    """Your shop's webhook endpoints (never their secrets), with whether each is enabled."""
    found = await webhooks.endpoints(parts.database, me.shop)
    return ok([webhooks.endpoint_public(e) for e in found])


@router.post("")
async def add_endpoint(body: WebhookCreate, me: Merchant, parts: Parts) -> dict[str, Any]:
    """Add an endpoint for the events named. The answer holds its signing secret
    (`whsec_...`): store it now, it is not shown again. URLs on loopback or private
    addresses are refused unless the deployment allows them."""
    added = await webhooks.add(
        parts.database,
        shop_id=me.shop,
        url=body.url,
        events=body.events,
        description=body.description,
        allow_private=parts.settings.webhook_allow_private,
        resolve_timeout=parts.settings.webhook_timeout_seconds,
    )
    return ok(added.public())


@router.delete("/{endpoint_id}")
async def remove_endpoint(endpoint_id: IdPath, me: Merchant, parts: Parts) -> dict[str, Any]:
    """Remove an endpoint; deliveries to it not yet made are given up."""
    given_up = await webhooks.remove(parts.database, me.shop, endpoint_id)
    return ok({"id": endpoint_id, "givenUp": given_up})


@router.post("/{endpoint_id}/test")
async def test_endpoint(endpoint_id: IdPath, me: Merchant, parts: Parts) -> dict[str, Any]:
    """Send a `webhook.test` event to the endpoint; returns the delivery to follow."""
    return ok(await webhooks.send_test(parts.outbox, me.shop, endpoint_id, parts.dispatcher.poke))


@router.get("/deliveries")
async def list_deliveries(
    me: Merchant,
    parts: Parts,
    page: Annotated[int, Query(ge=1, le=100_000), DIGITS] = 1,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=100), DIGITS] = 20,
    endpoint_id: Annotated[
        int | None, Query(alias="endpointId", ge=1, le=2**31 - 1), DIGITS
    ] = None,
    state: Annotated[State | None, Query()] = None,
    event_type: Annotated[EventType | None, Query(alias="eventType")] = None,
) -> dict[str, Any]:
    """Deliveries to your shop's endpoints, newest first, each with its attempts
    (`attemptList`); filter by endpoint, state and event type."""
    return ok(
        await webhooks.deliveries(
            parts.database,
            me.shop,
            endpoint_id=endpoint_id,
            state=state,
            event_type=None if event_type is None else event_type.value,
            page=page,
            page_size=page_size,
        )
    )


@router.get("/deliveries/{delivery_id}")
async def get_delivery(delivery_id: IdPath, me: Merchant, parts: Parts) -> dict[str, Any]:
    """One delivery with its attempts."""
    return ok(await webhooks.delivery(parts.database, me.shop, delivery_id))


@router.post("/deliveries/{delivery_id}/resend")
async def resend_delivery(delivery_id: IdPath, me: Merchant, parts: Parts) -> dict[str, Any]:
    """Send a delivered or failed delivery again, with the same `webhook-id`."""
    return ok(await webhooks.resend(parts.database, me.shop, delivery_id, parts.dispatcher.poke))
