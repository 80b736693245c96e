"""Prometheus metrics of one server process, served at ``/metrics``.

Counters that the hot path already keeps (deliveries, consoles, relayed
alerts, broker reconnects) are read when scraped instead of being counted
twice. Each process has its own registry; with several workers, scrape each
process (or sum them in the monitoring system).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from orderbell.broker import Broker
from orderbell.delivery.frames import Frame
from orderbell.delivery.hub import Hub
from orderbell.domain.alerts import Alert
from orderbell.services.dispatcher import Dispatcher
from orderbell.services.outbox import Outbox

if TYPE_CHECKING:
    from orderbell.web.live_console import LiveConsoles

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: Seconds from payment to acceptance: from a shop at the counter to one past its ladder.
ACCEPT_BUCKETS = (5.0, 10.0, 20.0, 30.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0, 900.0, 1800.0)


class _Live(Collector):
    def __init__(self, hub: Hub, consoles: LiveConsoles, outbox: Outbox, broker: Broker) -> None:
        self._hub, self._consoles, self._outbox, self._broker = hub, consoles, outbox, broker

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "orderbell_consoles_connected",
            "Consoles connected to this process.",
            value=self._hub.count(),
        )
        yield GaugeMetricFamily(
            "orderbell_consoles_live",
            "Connected consoles that have caught up and are held without a task of their own.",
            value=len(self._consoles),
        )
        yield CounterMetricFamily(
            "orderbell_alert_deliveries",
            "Alert frames handed to consoles (one per alert per console).",
            value=self._hub.delivered,
        )
        yield CounterMetricFamily(
            "orderbell_alerts_relayed",
            "Committed alerts found unpublished and published by the relay.",
            value=self._outbox.relayed,
        )
        yield CounterMetricFamily(
            "orderbell_alerts_left_to_relay",
            "Committed alerts not published after commit but left to the relay "
            "(the broker was down, or the publish backlog full).",
            value=self._outbox.left_to_relay,
        )
        yield GaugeMetricFamily(
            "orderbell_broker_down",
            "1 while this process knows the broker to be down (publishing skipped), else 0.",
            value=int(self._outbox.outage.down),
        )
        yield CounterMetricFamily(
            "orderbell_broker_outages",
            "Times this process found the broker down.",
            value=self._outbox.outage.outages,
        )
        yield CounterMetricFamily(
            "orderbell_broker_reconnects",
            "Times the broker connection was re-established.",
            value=self._broker.reconnects,
        )


class _Deliveries(Collector):
    def __init__(self, dispatcher: Dispatcher) -> None:
        self._dispatcher = dispatcher

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "orderbell_webhook_deliveries",
            "Outgoing attempts by kind (webhook) and outcome: delivered, failed_attempt "
            "(to be retried or given up), gave_up (a delivery that failed for good).",
            labels=["kind", "outcome"],
        )
        for (kind, outcome), count in sorted(self._dispatcher.outcomes.items()):
            family.add_metric([kind, outcome], count)
        yield family
        yield GaugeMetricFamily(
            "orderbell_outgoing_in_flight",
            "Outgoing attempts (webhooks) under way in this process.",
            value=self._dispatcher.in_flight,
        )


class Metrics:
    """The metrics of one process, fed by hooks on the hub, the live consoles, the outbox
    and the console socket."""

    def __init__(self, hub: Hub, consoles: LiveConsoles, outbox: Outbox, broker: Broker) -> None:
        self.registry = CollectorRegistry()
        self.alerts_created = Counter(
            "orderbell_alerts_created",
            "Alerts committed by this process, by type (1 new order, 2 reminder).",
            ["type"],
            registry=self.registry,
        )
        self.delivery_latency = Histogram(
            "orderbell_delivery_latency_seconds",
            "From an alert being stored to its hand-over to this process's consoles.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.slow_disconnects = Counter(
            "orderbell_slow_console_disconnects",
            "Consoles cut off because they fell too far behind (close code 4408).",
            registry=self.registry,
        )
        self.replayed = Counter(
            "orderbell_replayed_alerts",
            "Alerts sent to resuming consoles from the log.",
            registry=self.registry,
        )
        self.seconds_to_accept = Histogram(
            "orderbell_order_accept_seconds",
            "Seconds from payment to acceptance of the orders accepted in this process.",
            buckets=ACCEPT_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_Live(hub, consoles, outbox, broker))
        hub.on_fan_out = self._fanned_out
        consoles.on_cut_off = self.slow_disconnects.inc
        outbox.on_commit = self._committed

    def watch_dispatcher(self, dispatcher: Dispatcher) -> None:
        """Count the outgoing deliveries of ``dispatcher`` (webhooks) by outcome."""
        self.registry.register(_Deliveries(dispatcher))

    def _fanned_out(self, frame: Frame) -> None:
        if frame.created is not None:
            self.delivery_latency.observe(max(0.0, time.time() - frame.created))

    def _committed(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            self.alerts_created.labels(type=str(int(alert.type))).inc()

    def order_accepted(self, paid_at: datetime | None, accepted_at: datetime | None) -> None:
        """An order was accepted here: observe how long it waited since payment."""
        if paid_at is not None and accepted_at is not None:
            self.seconds_to_accept.observe(max(0.0, (accepted_at - paid_at).total_seconds()))

    def render(self) -> bytes:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry)
