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
    what it last said of itself (sound, visible, notifications, volume, app version);
    then the shop's printers (`kind` "printer"): online, last heard, status (paper,
    cover) and a `warning` when one does not print."""
    consoles: list[Any] = list(await parts.presence.devices(me.shop))
    for printer in await parts.printing.devices(me.shop):
        consoles.append(
            {
                "deviceId": f"printer-{printer['id']}",
                **printer,
                "kind": "printer",
                "printerKind": printer["kind"],
            }
        )
    return ok(consoles)
