"""The same without asyncio: a plain loop over the shop's alerts.

ORDERBELL_PASSWORD=demo1234 .venv/bin/python examples/blocking_listener.py
"""

from __future__ import annotations

import os
import sys

from orderbell.client import BlockingConsoleClient

url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
with BlockingConsoleClient(
    url, "demo", os.environ["ORDERBELL_PASSWORD"], state_file="blocking.seq"
) as console:
    for alert in console.alerts():
        kind = "new order" if alert.is_new_order else "reminder"
        print(f"{kind}: {alert.content} (seq {alert.seq})")
