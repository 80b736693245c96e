"""A shop's receipt printers, print jobs and auto-accept (prefix ``/admin``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import Field, StrictBool

from orderbell.services.printing import jobs, printers
from orderbell.services.printing.auto_accept import auto_accept, set_auto_accept
from orderbell.web.deps import Merchant, Parts
from orderbell.web.envelope import ok
from orderbell.web.schemas import DIGITS, Body, Line

router = APIRouter(prefix="/admin", tags=["printing"])

IdPath = Annotated[int, Path(ge=1, le=2**31 - 1), DIGITS]


class PrinterAdd(Body):
    """A printer to add: ``escpos-tcp`` with its ``address`` (host:port on the shop's
    network), or ``cloudprnt`` (no address; its login and secret come back once)."""

    kind: Literal["escpos-tcp", "cloudprnt"]
    name: Annotated[Line, Field(max_length=64)] = ""
    address: Annotated[Line, Field(max_length=255)] | None = None
    width: Literal[58, 80] = 80


class AutoAccept(Body):
    """Whether paid orders are accepted (and printed) at once."""

    enabled: StrictBool


@router.get("/printers")
async def list_printers(me: Merchant, parts: Parts) -> dict[str, Any]:
    """Your shop's printers, with whether each is online and what it last reported."""
    within = parts.printing.within
    found = await printers.printers(parts.database, me.shop)
    return ok([printers.public(p, within=within) for p in found])


@router.post("/printers")
async def add_printer(body: PrinterAdd, me: Merchant, parts: Parts) -> dict[str, Any]:
    """Add a printer; it prints the next accepted order, no restart needed. A
    `cloudprnt` printer's `secret` is shown this once: set it, with `login`, as the
    printer's HTTP user and password."""
    added = await printers.add(
        parts.database,
        shop_id=me.shop,
        kind=body.kind,
        name=body.name,
        address=body.address,
        width=body.width,
    )
    return ok(added.public(parts.printing.within))


@router.delete("/printers/{id}")
async def remove_printer(id: IdPath, me: Merchant, parts: Parts) -> dict[str, Any]:
    """Remove a printer; its jobs not yet printed are given up (`givenUp`)."""
    return ok({"givenUp": await printers.remove(parts.database, me.shop, id)})


@router.get("/printers/jobs")
async def print_jobs(
    me: Merchant,
    parts: Parts,
    order_id: Annotated[int | None, Query(alias="orderId", ge=1, le=2**31 - 1), DIGITS] = None,
    printer_id: Annotated[int | None, Query(alias="printerId", ge=1, le=2**31 - 1), DIGITS] = None,
    limit: Annotated[int, Query(ge=1, le=200), DIGITS] = 50,
) -> dict[str, Any]:
    """Your shop's print jobs, newest first: `queued`, `sent`, `printed` or `failed`."""
    return ok(
        await jobs.jobs(
            parts.database, me.shop, order_id=order_id, printer_id=printer_id, limit=limit
        )
    )


@router.post("/order/{id}/print")
async def reprint(id: IdPath, me: Merchant, parts: Parts) -> dict[str, Any]:
    """Print a paid order's ticket again on every enabled printer of your shop."""
    return ok(await jobs.reprint(parts.database, me.shop, id, poke=parts.dispatcher.poke))


@router.get("/shop/auto-accept")
async def get_auto_accept(me: Merchant, parts: Parts) -> dict[str, Any]:
    """Whether your shop accepts paid orders at once: `{"enabled": true|false}`."""
    return ok({"enabled": await auto_accept(parts.database, me.shop)})


@router.put("/shop/auto-accept")
async def put_auto_accept(body: AutoAccept, me: Merchant, parts: Parts) -> dict[str, Any]:
    """Turn auto-accept on or off (`{"enabled": true|false}`). When on, a paid order is
    accepted at once, its alert rings once and is handled, and its ticket prints."""
    return ok({"enabled": await set_auto_accept(parts.database, me.shop, body.enabled)})
