"""The Python SDK: a merchant console in a script or a terminal.

``ConsoleClient`` (asyncio) logs in, connects, resumes from the last alert
it saw (kept in a file you give it), reconnects with backoff, yields alerts
as typed objects, and acts on them. ``BlockingConsoleClient`` wraps it for
code without an event loop. See examples/ for runnable scripts.
"""

from orderbell.client.blocking import BlockingConsoleClient
from orderbell.client.console import ConsoleClient
from orderbell.client.errors import ApiError, ClientError, LoginFailed, ServerUnreachable
from orderbell.client.events import Alert, Event, Handled, Presence, Reset, Status

__all__ = [
    "Alert",
    "ApiError",
    "BlockingConsoleClient",
    "ClientError",
    "ConsoleClient",
    "Event",
    "Handled",
    "LoginFailed",
    "Presence",
    "Reset",
    "ServerUnreachable",
    "Status",
]
