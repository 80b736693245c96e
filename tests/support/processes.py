"""Two server processes' worth of parts in one test process, for races at the service level."""

from __future__ import annotations

from dataclasses import dataclass

from orderbell.broker.memory import MemoryBroker
from orderbell.services.outbox import Outbox
from orderbell.storage.database import Database


@dataclass
class Process:
    """What a server process would have: its own engine, broker and outbox."""

    database: Database
    broker: MemoryBroker
    outbox: Outbox
    notices: list[dict[str, object]]
