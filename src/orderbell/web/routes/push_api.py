"""Web Push for a shop's devices (prefix ``/admin/push``): the key, and subscriptions.

A console page fetches the deployment's public key, subscribes with the
browser's Push API and posts the ``PushSubscription`` (its JSON, as
``subscription.toJSON()`` gives it) with its device id. Every route takes
the merchant token and sees only the merchant's own shop.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import AfterValidator, Field, StringConstraints

from orderbell.delivery.presence.registry import MAX_DEVICE_ID, check_device_id
from orderbell.services import push
from orderbell.web.deps import Merchant, Parts
from orderbell.web.envelope import ok
from orderbell.web.schemas import DIGITS, Body

router = APIRouter(prefix="/admin/push", tags=["push"])

IdPath = Annotated[int, Path(ge=1, le=2**31 - 1), DIGITS]


def _p256dh(value: str) -> str:
    return push.check_key(value, "p256dh", 65)


def _auth(value: str) -> str:
    return push.check_key(value, "auth", 16)


class SubscriptionKeys(Body):
    """The subscription's keys: the browser's P-256 public key and its auth secret."""

    p256dh: Annotated[str, StringConstraints(min_length=1, max_length=128), AfterValidator(_p256dh)]
    auth: Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_auth)]


class SubscriptionCreate(Body):
    """A browser's PushSubscription (``toJSON()``) and the device it belongs to."""

    endpoint: Annotated[str, StringConstraints(min_length=1, max_length=2048)] = Field(
        description="The push service URL the browser gave."
    )
    keys: SubscriptionKeys
    device_id: Annotated[
        str,
        StringConstraints(min_length=1, max_length=MAX_DEVICE_ID),
        AfterValidator(check_device_id),
    ] = Field(description="The device's id, as its console connects with (`deviceId`).")
    expiration_time: float | None = Field(None, description="Ignored; browsers send null.")


@router.get("/key")
async def public_key(_me: Merchant, parts: Parts) -> dict[str, Any]:
    """The deployment's VAPID public key (base64url), for `PushManager.subscribe`."""
    keys = await parts.push.keys()
    return ok({"publicKey": keys.public_key})


@router.get("/subscriptions")
async def list_subscriptions(me: Merchant, parts: Parts) -> dict[str, Any]:
    """Your shop's push subscriptions (without their keys)."""
    found = await push.subscriptions(parts.database, me.shop)
    return ok([push.subscription_public(s) for s in found])


@router.post("/subscriptions")
async def add_subscription(body: SubscriptionCreate, me: Merchant, parts: Parts) -> dict[str, Any]:
    """Keep this browser's push subscription for a device of your shop; alerts no
    visible console shows within ORDERBELL_PUSH_AFTER_SECONDS are pushed to it.
    Posting the same endpoint again replaces it."""
    sub = await push.subscribe(
        parts.database,
        merchant_id=me.user_id,
        shop_id=me.shop,
        device_id=body.device_id,
        endpoint=body.endpoint,
        p256dh=body.keys.p256dh,
        auth=body.keys.auth,
        allow_private=parts.settings.push_allow_private,
        resolve_timeout=parts.settings.webhook_timeout_seconds,
    )
    return ok(push.subscription_public(sub))


@router.delete("/subscriptions/{subscription_id}")
async def remove_subscription(
    subscription_id: IdPath, me: Merchant, parts: Parts
) -> dict[str, Any]:
    """Remove a push subscription of your shop; its pushes not yet sent are given up."""
    await push.unsubscribe(parts.database, me.shop, subscription_id)
    return ok({"id": subscription_id})
