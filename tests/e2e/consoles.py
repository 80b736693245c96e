"""The resuming test console, now in ``tests.support``; kept for the tests that import it here."""

from tests.support.consoles import RecordingConsole, ResumingConsole
from tests.support.orders import seed_unpaid_orders

__all__ = ["RecordingConsole", "ResumingConsole", "seed_unpaid_orders"]
