"""Dependencies of the routes: the wired parts and who is calling."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from orderbell.domain.errors import Forbidden, Unauthorized
from orderbell.parts import Orderbell
from orderbell.security import Identity

# Dependencies are ``async def`` although they never await: FastAPI runs a
# plain ``def`` dependency in a worker thread, a hop that costs more than the
# work (token checks are microseconds).


async def get_parts(request: Request) -> Orderbell:
    """The parts wired by ``create_app``."""
    parts: Orderbell = request.app.state.orderbell
    return parts


Parts = Annotated[Orderbell, Depends(get_parts)]

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <token>")
# Named apart, so that the OpenAPI document lists both headers rather than
# one scheme "APIKeyHeader" standing for whichever was registered last.
_customer_header = APIKeyHeader(
    name="authentication",
    scheme_name="CustomerToken",
    auto_error=False,
    description="Customer token (original header)",
)
_merchant_header = APIKeyHeader(
    name="token",
    scheme_name="MerchantToken",
    auto_error=False,
    description="Merchant token (original header)",
)


def _identify(parts: Orderbell, token: str | None, role: str) -> Identity:
    if not token:
        raise Unauthorized("Not logged in: send the token from the login response.")
    identity = parts.tokens.verify(token)
    if identity.role != role:
        raise Forbidden(f"This needs a {role} login.")
    return identity


async def current_customer(
    parts: Parts,
    header: Annotated[str | None, Depends(_customer_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Identity:
    """The customer whose token came in ``authentication`` or ``Authorization: Bearer``."""
    return _identify(parts, header or (bearer.credentials if bearer else None), "customer")


async def current_merchant(
    parts: Parts,
    header: Annotated[str | None, Depends(_merchant_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Identity:
    """The merchant whose token came in ``token`` or ``Authorization: Bearer``."""
    return _identify(parts, header or (bearer.credentials if bearer else None), "merchant")


Customer = Annotated[Identity, Depends(current_customer)]
Merchant = Annotated[Identity, Depends(current_merchant)]
