"""Passwords (argon2) and login tokens (JWT)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from orderbell.domain.errors import Forbidden, Unauthorized

Role = Literal["customer", "merchant"]

_hasher = PasswordHasher()
# Verifying against this when the account does not exist keeps the time of a
# failed login the same whether or not the name is known.
_DUMMY_HASH = _hasher.hash("orderbell-no-such-account")


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``, to store."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches the stored hash (``None``: no such account)."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a valid token speaks for; ``shop_id`` is set for merchants only."""

    role: Role
    user_id: int
    shop_id: int | None = None

    @property
    def shop(self) -> int:
        """The merchant's shop.

        Raises:
            Forbidden: this is not a merchant's identity.
        """
        if self.shop_id is None:
            raise Forbidden("This needs a merchant login.")
        return self.shop_id


class TokenIssuer:
    """Signs and checks login tokens (HS256 JWTs with an expiry).

    ``clock`` gives the time in seconds since the epoch (``time.time`` unless
    a test passes one it moves by hand): both the expiry written into a
    token and the check of it read this clock.
    """

    #: Verified tokens remembered, so that a console or customer sending the
    #: same token again skips the signature check (a JWT decode costs more
    #: than the rest of a small request).
    CACHE_SIZE = 10_000

    def __init__(
        self, secret: str, *, ttl: timedelta, clock: Callable[[], float] = time.time
    ) -> None:
        self._secret = secret
        self._ttl = ttl
        self._clock = clock
        self._verified: OrderedDict[str, tuple[Identity, float]] = OrderedDict()

    def issue(self, identity: Identity) -> str:
        """A signed token for ``identity`` that expires after the configured lifetime."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        claims: dict[str, object] = {
            "sub": str(identity.user_id),
            "role": identity.role,
            "iat": now,
            "exp": now + self._ttl,
        }
        if identity.shop_id is not None:
            claims["shop"] = identity.shop_id
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def verify(self, token: str) -> Identity:
        """The identity a token speaks for.

        Raises:
            Unauthorized: the token is malformed, forged or expired.
        """
        known = self._verified.get(token)
        if known is not None:
            identity, expires = known
            if self._clock() < expires:
                self._verified.move_to_end(token)
                return identity
            del self._verified[token]
        identity, expires = self._decode(token)
        self._verified[token] = (identity, expires)
        if len(self._verified) > self.CACHE_SIZE:
            self._verified.popitem(last=False)
        return identity

    def _decode(self, token: str) -> tuple[Identity, float]:
        try:
            # The times are checked below against this issuer's clock, not
            # the library's own reading of the system time.
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                options={"require": ["exp", "sub"], "verify_exp": False, "verify_iat": False},
            )
            role = claims["role"]
            user_id = int(claims["sub"])
            shop = claims.get("shop")
            if isinstance(claims["exp"], bool) or not isinstance(claims["exp"], int | float):
                raise TypeError("exp is not a number")
            expires = float(claims["exp"])
        except (jwt.InvalidTokenError, KeyError, TypeError, ValueError) as exc:
            raise Unauthorized("Invalid token; please log in again.") from exc
        if not expires > self._clock():  # also refuses a NaN expiry
            raise Unauthorized("Your login has expired; please log in again.")
        if role == "merchant" and isinstance(shop, int):
            return Identity("merchant", user_id, shop), expires
        if role == "customer":
            return Identity("customer", user_id), expires
        raise Unauthorized("Invalid token; please log in again.")
