"""The wired parts of one server process, as the web layer sees them.

``bootstrap`` builds an ``Orderbell`` and hands it to the app; routes and the
console endpoint take it from ``deps``. It lives below both, so that the
modules that use it never import the module that builds the app.
"""

from __future__ import annotations

from dataclasses import dataclass

from orderbell.broker import Broker
from orderbell.delivery.hub import Hub
from orderbell.delivery.presence.registry import Presence
from orderbell.metrics import Metrics
from orderbell.security import TokenIssuer
from orderbell.services.alert_acks import AlertAcks
from orderbell.services.dispatcher import Dispatcher
from orderbell.services.escalation import Escalation
from orderbell.services.outbox import Outbox
from orderbell.services.printing.part import Printing
from orderbell.services.push import Push
from orderbell.services.replay import Retention
from orderbell.services.schedule import Schedule
from orderbell.services.unattended import UnattendedShops
from orderbell.settings import Settings
from orderbell.storage.database import Database
from orderbell.web.live_console import LiveConsoles
from orderbell.web.presenters import Presenter


@dataclass
class Orderbell:
    """The wired parts of one server process."""

    settings: Settings
    database: Database
    broker: Broker
    hub: Hub
    consoles: LiveConsoles
    presence: Presence
    outbox: Outbox
    schedule: Schedule
    unattended: UnattendedShops
    retention: Retention
    tokens: TokenIssuer
    presenter: Presenter
    metrics: Metrics
    escalation: Escalation
    acks: AlertAcks
    dispatcher: Dispatcher
    printing: Printing
    push: Push
