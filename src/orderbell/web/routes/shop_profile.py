"""The shop as its console shows it: name and usual preparation time (``/admin/shop/profile``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from orderbell.services import shop_profile
from orderbell.web.deps import Merchant, Parts
from orderbell.web.envelope import ok
from orderbell.web.schemas import ShopPrepTime

router = APIRouter(tags=["shop profile"])


@router.get("/admin/shop/profile")
async def get_profile(me: Merchant, parts: Parts) -> dict[str, Any]:
    """Your shop's `id`, `name` and `prepMinutes` (what "accept" offers first)."""
    return ok((await shop_profile.profile(parts.database, me.shop)).public())


@router.put("/admin/shop/profile/prepMinutes")
async def set_prep_minutes(body: ShopPrepTime, me: Merchant, parts: Parts) -> dict[str, Any]:
    """Set your shop's usual preparation time (`prepMinutes`, 1 to 180); returns the profile."""
    changed = await shop_profile.set_prep_minutes(parts.database, me.shop, body.prep_minutes)
    return ok(changed.public())
