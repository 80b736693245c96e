"""The broker outage as the log tells it: once down, a count now and then, once back."""

from __future__ import annotations

import logging

import pytest

from orderbell.broker.outage import Outage


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "orderbell.broker.outage"]


def test_an_outage_is_told_once_counted_every_interval_and_its_end_told_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    outage = Outage(clock=clock)
    caplog.set_level(logging.WARNING)
    assert not outage.down and not outage.report_due(10)
    assert outage.came_back(0) is False  # nothing to say while up

    assert outage.went_down(TimeoutError()) is True
    assert outage.went_down(ConnectionError("refused")) is False  # every later payment
    assert outage.down and outage.outages == 1
    clock.now += 9.9
    assert not outage.report_due(10)
    clock.now += 0.1
    assert outage.report_due(10)
    outage.report(3)
    assert not outage.report_due(10)  # the next one an interval after this one
    clock.now += 10
    assert outage.report_due(10)
    outage.report(7)
    clock.now += 5
    assert outage.came_back(7) is True
    assert outage.came_back(0) is False
    assert not outage.down and not outage.report_due(10)

    assert lines(caplog) == [
        "the broker is unreachable (TimeoutError): payments go on without waiting for it, "
        "their alerts are kept in the log and relayed once it is back",
        "the broker is still unreachable after 10 s: 3 alerts wait for the relay",
        "the broker is still unreachable after 20 s: 7 alerts wait for the relay",
        "the broker is back after 25 s; the relay published 7 alerts that waited",
    ]
    assert all(r.levelno == logging.WARNING for r in caplog.records)

    # The next outage is told again, and counted from its own start.
    assert outage.went_down(ConnectionError("refused")) is True
    assert outage.outages == 2
    assert "ConnectionError: refused" in lines(caplog)[-1]
    assert not outage.report_due(10)
