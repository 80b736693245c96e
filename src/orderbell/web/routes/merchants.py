"""Merchant login (prefix ``/admin/employee``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from orderbell.security import Identity
from orderbell.services import accounts, shop_profile
from orderbell.web.deps import Merchant, Parts
from orderbell.web.envelope import ok
from orderbell.web.guards import client_address, login_throttle
from orderbell.web.schemas import MerchantLogin

router = APIRouter(prefix="/admin/employee", tags=["merchant"])


@router.post("/login")
async def login(body: MerchantLogin, parts: Parts, request: Request) -> dict[str, Any]:
    """Log in as a shop's staff; send the token back in the `token` header.

    Failed logins are limited per username and per client address (429 with
    `Retry-After` once over the limit)."""
    merchant = await accounts.login_merchant(
        parts.database,
        username=body.username,
        password=body.password,
        throttle=login_throttle(parts),
        address=client_address(request),
    )
    token = parts.tokens.issue(Identity("merchant", merchant.id, merchant.shop_id))
    return ok(
        {
            "id": merchant.id,
            "userName": merchant.username,
            "name": merchant.name,
            "shopId": merchant.shop_id,
            "shopName": (await shop_profile.profile(parts.database, merchant.shop_id)).name,
            "token": token,
        }
    )


@router.post("/logout")
async def logout(_me: Merchant) -> dict[str, Any]:
    """Log out (the console forgets its token; tokens expire by themselves)."""
    return ok()
