"""Login tokens: signed, expiring, and checked once per token string."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from orderbell.domain.errors import Unauthorized
from orderbell.security import Identity, TokenIssuer

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
    issuer = TokenIssuer(SECRET, ttl=timedelta(seconds=1))
    token = issuer.issue(Identity("customer", 1))
    assert issuer.verify(token).user_id == 1
    time.sleep(1.1)
    with pytest.raises(Unauthorized, match="expired"):
        issuer.verify(token)


def test_the_cache_is_bounded() -> None:
    issuer = TokenIssuer(SECRET, ttl=timedelta(minutes=5))
    issuer.CACHE_SIZE = 3
    tokens = [issuer.issue(Identity("customer", n)) for n in range(1, 6)]
    for token in tokens:
        issuer.verify(token)
    assert len(issuer._verified) == 3
