"""Merchant login (prefix ``/admin/employee``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from orderbell.security import Identity
from orderbell.services import accounts
from orderbell.web.deps import Merchant, Parts
from orderbell.web.envelope import ok
from orderbell.web.schemas import MerchantLogin

router = APIRouter(prefix="/admin/employee", tags=["merchant"])


@router.post("/login")
async def login(body: MerchantLogin, parts: Parts) -> dict[str, Any]:
    """Log in as a shop's staff; send the token back in the `token` header."""
    merchant = await accounts.login_merchant(
        parts.database, username=body.username, password=body.password
    )
    token = parts.tokens.issue(Identity("merchant", merchant.id, merchant.shop_id))
    return ok(
        {
            "id": merchant.id,
            "userName": merchant.username,
            "name": merchant.name,
            "shopId": merchant.shop_id,
            "token": token,
        }
    )


@router.post("/logout")
async def logout(_me: Merchant) -> dict[str, Any]:
    """Log out (the console forgets its token; tokens expire by themselves)."""
    return ok()
