"""Login tokens: signed, expiring, and checked once per token string."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest

from orderbell.domain.errors import Unauthorized
from orderbell.security import Identity, TokenIssuer
from tests.support.clocks import Clock

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def test_a_token_speaks_for_its_identity_and_a_forged_one_is_refused() -> None:
    issuer = TokenIssuer(SECRET, ttl=timedelta(minutes=5))
    token = issuer.issue(Identity("merchant", 7, 3))
    assert issuer.verify(token) == Identity("merchant", 7, 3)
    assert issuer.verify(token) == Identity("merchant", 7, 3), "again, from the cache"
    other = TokenIssuer("another-secret-that-is-long-enough-for-hs256", ttl=timedelta(minutes=5))
    with pytest.raises(Unauthorized):
        other.verify(token)
    with pytest.raises(Unauthorized):
        issuer.verify(token[:-2] + "xx")


def test_a_remembered_token_still_expires() -> None:
    clock = Clock()
    issuer = TokenIssuer(SECRET, ttl=timedelta(seconds=60), clock=clock.time)
    token = issuer.issue(Identity("customer", 1))
    assert issuer.verify(token).user_id == 1
    clock.advance(59.9)
    assert issuer.verify(token).user_id == 1, "still within its lifetime"
    clock.advance(0.1)
    with pytest.raises(Unauthorized, match="expired"):
        issuer.verify(token)


def test_a_token_unknown_to_the_cache_expires_by_the_issuers_clock() -> None:
    clock = Clock()
    issuer = TokenIssuer(SECRET, ttl=timedelta(minutes=5), clock=clock.time)
    token = issuer.issue(Identity("merchant", 2, 9))
    clock.advance(301)
    fresh = TokenIssuer(SECRET, ttl=timedelta(minutes=5), clock=clock.time)
    with pytest.raises(Unauthorized, match="expired"):
        fresh.verify(token)
    # A token from a clock ahead of the system's is valid by the issuer's own.
    assert fresh.verify(fresh.issue(Identity("merchant", 2, 9))) == Identity("merchant", 2, 9)


def test_a_token_whose_expiry_is_not_a_number_is_refused() -> None:
    for exp in ("9999999999", True, None):
        forged = jwt.encode({"sub": "1", "role": "customer", "exp": exp}, SECRET, "HS256")
        with pytest.raises(Unauthorized, match="Invalid token"):
            TokenIssuer(SECRET, ttl=timedelta(minutes=5)).verify(forged)


def test_the_cache_is_bounded() -> None:
    issuer = TokenIssuer(SECRET, ttl=timedelta(minutes=5))
    issuer.CACHE_SIZE = 3
    tokens = [issuer.issue(Identity("customer", n)) for n in range(1, 6)]
    for token in tokens:
        issuer.verify(token)
    assert len(issuer._verified) == 3
