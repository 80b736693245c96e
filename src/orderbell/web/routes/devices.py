"""A shop's devices: every console connected to any server process (prefix ``/admin/shop``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from orderbell.web.deps import Merchant, Parts
from orderbell.web.envelope import ok

router = APIRouter(prefix="/admin/shop", tags=["shop devices"])


@router.get("/devices")
async def devices(me: Merchant, parts: Parts) -> dict[str, Any]:
    """Every console of your shop that is connected now, on any server process, with
    what it last said of itself (sound, visible, notifications, volume, app version)."""
    return ok(await parts.presence.devices(me.shop))
