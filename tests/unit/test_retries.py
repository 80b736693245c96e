"""The retry schedule of outgoing deliveries, and which webhook URLs the server calls."""

from __future__ import annotations

import ipaddress
import socket
from datetime import datetime, timedelta

import pytest

from orderbell.domain.retries import DELAYS, RetryPolicy
from orderbell.services.webhooks import (
    CheckedAddresses,
    Refused,
    is_public,
    parse_events,
    parse_url,
)

T0 = datetime(2026, 1, 1, 12, 0, 0)
#: An attempt may take the whole timeout before its retry is scheduled.
TIMEOUT = timedelta(seconds=5)


def schedule(policy: RetryPolicy, draw: float, attempts: int) -> list[datetime]:
    """When each attempt starts if every one fails after the full timeout."""
    starts = [T0]
    for n in range(1, attempts):
        when = policy.next_attempt(created_at=T0, attempts=n, now=starts[-1] + TIMEOUT, draw=draw)
        assert when is not None
        starts.append(when)
    return starts


@pytest.mark.parametrize("draw", [0.0, 0.5, 0.999999])
def test_the_first_retry_comes_within_10_s_and_the_third_attempt_within_a_minute(
    draw: float,
) -> None:
    first, second, third = schedule(RetryPolicy(), draw, 3)
    assert second - first <= timedelta(seconds=10)
    assert third - first <= timedelta(minutes=1)


def test_delays_grow_and_then_stay_at_an_hour() -> None:
    policy = RetryPolicy(jitter=0)
    delays = [policy.delay(n, 0.5).total_seconds() for n in range(1, 12)]
    assert delays == sorted(delays)
    assert delays[:3] == [3.0, 20.0, 60.0]
    assert delays[-1] == DELAYS[-1] == 3600.0


def test_jitter_spreads_a_delay_within_its_band() -> None:
    policy = RetryPolicy(jitter=0.2)
    low, mid, high = (policy.delay(2, d).total_seconds() for d in (0.0, 0.5, 0.999999))
    assert (low, mid) == (16.0, 20.0)
    assert 23.9 < high < 24.0


def test_a_delivery_is_given_up_24_hours_after_its_event() -> None:
    policy = RetryPolicy()
    assert policy.next_attempt(
        created_at=T0, attempts=20, now=T0 + timedelta(hours=22), draw=0.5
    ) == T0 + timedelta(hours=23)
    assert (
        policy.next_attempt(created_at=T0, attempts=21, now=T0 + timedelta(hours=23, minutes=30))
        is None
    )
    # In all: a bounded number of attempts, the last within the day.
    starts = [T0]
    while True:
        when = policy.next_attempt(created_at=T0, attempts=len(starts), now=starts[-1], draw=0.5)
        if when is None:
            break
        starts.append(when)
    assert starts[-1] <= T0 + timedelta(hours=24)
    assert 20 <= len(starts) <= 30


def test_the_scale_shrinks_every_delay_but_not_the_give_up() -> None:
    policy = RetryPolicy(scale=0.01, give_up_after=timedelta(seconds=3))
    assert policy.delay(1, 0.5) == timedelta(seconds=0.03)
    assert policy.next_attempt(created_at=T0, attempts=1, now=T0, draw=0.5) is not None
    assert policy.next_attempt(created_at=T0, attempts=5, now=T0 + timedelta(seconds=3)) is None


@pytest.mark.parametrize(
    "arguments",
    [{"delays": ()}, {"delays": (1.0, 0.0)}, {"jitter": 1.0}, {"jitter": -0.1}, {"scale": 0}],
)
def test_a_policy_that_makes_no_sense_is_refused(arguments: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.16.5.4", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("240.0.0.1", False),
        ("224.0.0.1", False),
        ("192.0.2.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
    ],
)
def test_only_public_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    ("url", "word"),
    [
        ("ftp://example.com/", "http://"),
        ("example.com/hook", "http://"),
        ("http:///hook", "host"),
        ("https://user:pw@example.com/", "password"),
        ("http://example.com:99999/", "not valid"),
        ("http://exa mple.com/", "spaces"),
        ("https://example.com/" + "a" * 2048, "too long"),
    ],
)
def test_urls_the_server_will_not_call(url: str, word: str) -> None:
    with pytest.raises(Refused) as refused:
        parse_url(url)
    assert word in refused.value.message


def test_a_url_is_taken_apart_with_its_default_port() -> None:
    assert (parse_url("https://Example.com/x").host, parse_url("https://example.com/x").port) == (
        "example.com",
        443,
    )
    assert parse_url("http://[::1]:8080/x").host == "::1"
    assert parse_url("http://h.example/").port == 80


def test_event_names_are_known_and_kept_once() -> None:
    assert parse_events([" order.paid", "order.paid", "webhook.test"]) == [
        "order.paid",
        "webhook.test",
    ]
    with pytest.raises(Exception, match=r"order\.lost"):
        parse_events(["order.lost"])
    with pytest.raises(Exception, match="at least one"):
        parse_events(["", " "])


async def test_a_connection_goes_only_to_addresses_that_were_checked() -> None:

    checked = CheckedAddresses()
    with pytest.raises(OSError, match="was not checked"):
        await checked.resolve("hooks.example.com", 443)
    checked.addresses[("hooks.example.com", 443)] = ["93.184.215.14", "2606:2800:21f:cb07::1"]
    found = await checked.resolve("hooks.example.com", 443)
    assert [(r["host"], r["port"], r["hostname"]) for r in found] == [
        ("93.184.215.14", 443, "hooks.example.com"),
        ("2606:2800:21f:cb07::1", 443, "hooks.example.com"),
    ]
    assert [r["family"] for r in found] == [socket.AF_INET, socket.AF_INET6]
    # Another port of the same host was not checked.
    with pytest.raises(OSError):
        await checked.resolve("hooks.example.com", 8443)
