"""A shop console in a script: print each alert, accept new orders, answer reminders.

Run against the demo (``make run`` in another terminal):

    .venv/bin/python examples/console_listener.py --url http://127.0.0.1:8080 --user demo

The password comes from ORDERBELL_PASSWORD (demo: demo1234). The last alert
seen is kept in ./listener.seq, so stopping and starting again resumes
where it stopped: no alert lost, none twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os

from orderbell.client import Alert, ConsoleClient, Handled, Reset, Status


async def main(url: str, user: str, password: str, auto_accept: bool) -> None:
    async with ConsoleClient(url, user, password, state_file="listener.seq") as console:
        async for event in console.events():
            if isinstance(event, Status):
                print(f"[{event.state}] {event.detail}")
            elif isinstance(event, Reset):
                print("some alerts are too old to replay; reload the order list")
            elif isinstance(event, Handled):
                print(f"alert {event.alert_seq} handled: {event.action}")
            elif isinstance(event, Alert) and event.is_new_order and event.order_id:
                order = await console.order(event.order_id)
                dishes = ", ".join(f"{d['name']}×{d['number']}" for d in order["orderDetailList"])
                print(f"new order {event.order_number}: {dishes}, ¥{order['amount']:.2f}")
                if auto_accept:
                    await console.confirm(event.order_id)
                    print("  accepted")
            elif isinstance(event, Alert) and event.is_reminder and event.order_id:
                print(f"customer asks to hurry: {event.order_number}")
                if auto_accept:
                    print("  replied:", await console.reply(event.order_id, "cooking"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--user", default="demo")
    parser.add_argument(
        "--auto-accept", action="store_true", help="accept orders, answer reminders"
    )
    args = parser.parse_args()
    password = os.environ.get("ORDERBELL_PASSWORD") or input("password: ")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main(args.url, args.user, password, args.auto_accept))
