"""Commands of a shop's staff at a terminal: ``listen``, ``order confirm/reject/reply``.

They talk to a running server over HTTP and the console socket, as the
Python SDK (``orderbell.client``) does, and never touch its database.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from orderbell.cli.common import fail

order_app = typer.Typer(help="Act on a shop's orders from the terminal.", no_args_is_help=True)

DEFAULT_URL = "http://127.0.0.1:8080"
UrlOption = Annotated[str, typer.Option(help="The server, e.g. http://127.0.0.1:8080")]
UserOption = Annotated[str, typer.Option("--user", "-u", help="Merchant login.")]


def listen(
    url: UrlOption = DEFAULT_URL,
    user: UserOption = "demo",
    json_lines: Annotated[
        bool, typer.Option("--json", help="One JSON object per line, for pipes.")
    ] = False,
    speak: Annotated[bool, typer.Option(help="Speak each alert with espeak-ng.")] = False,
    bell: Annotated[bool, typer.Option(help="Ring the terminal bell on each alert.")] = True,
    state_file: Annotated[
        Path | None,
        typer.Option(help="Where the last seen alert is kept, to resume after a restart."),
    ] = None,
) -> None:
    """Show a shop's alerts as they arrive; resumes after network cuts and restarts.

    The password is read from ORDERBELL_PASSWORD or asked for. Exit status: 2
    wrong login, 3 server unreachable.
    """
    from orderbell.client import ConsoleClient
    from orderbell.client.terminal import Listener, default_state_file
    from orderbell.client.terminal import run as run_listener

    password = _password()
    try:
        client = ConsoleClient(
            url,
            user,
            password,
            state_file=state_file or default_state_file(url, user),
            kind="listener",
        )
    except ValueError as exc:
        raise fail(str(exc), 2) from exc
    listener = Listener(
        client, json_lines=json_lines, bell=bell, speak=speak, colour=sys.stdout.isatty()
    )
    with _client_failures():
        run_listener(listener)


def _password() -> str:
    return os.environ.get("ORDERBELL_PASSWORD") or typer.prompt("Password", hide_input=True)


@contextmanager
def _client_failures() -> Iterator[None]:
    """A refused login exits with 2, an unreachable server with 3, any other
    refusal by the server with 1, each with one line."""
    from orderbell.client import ApiError, LoginFailed, ServerUnreachable

    try:
        yield
    except LoginFailed as exc:
        raise fail(f"login refused: {exc}", 2) from exc
    except ServerUnreachable as exc:
        raise fail(str(exc), 3) from exc
    except ApiError as exc:
        raise fail(exc.message, 1) from exc


def _act(url: str, user: str, action: Callable[[Any], Awaitable[object]]) -> object:
    from orderbell.client import ConsoleClient

    password = _password()

    async def act() -> object:
        async with ConsoleClient(url, user, password) as client:
            return await action(client)

    with _client_failures():
        return asyncio.run(act())


@order_app.command("confirm")
def order_confirm(
    order_id: Annotated[int, typer.Argument(help="The order's id.")],
    url: UrlOption = DEFAULT_URL,
    user: UserOption = "demo",
) -> None:
    """Accept an order that waits for the shop (password from ORDERBELL_PASSWORD or a prompt)."""
    _act(url, user, lambda client: client.confirm(order_id))
    typer.echo(f"order {order_id} accepted")


@order_app.command("reject")
def order_reject(
    order_id: Annotated[int, typer.Argument(help="The order's id.")],
    reason: Annotated[str, typer.Option(help="What the customer is told.")],
    url: UrlOption = DEFAULT_URL,
    user: UserOption = "demo",
) -> None:
    """Reject an order that waits for the shop."""
    _act(url, user, lambda client: client.reject(order_id, reason))
    typer.echo(f"order {order_id} rejected")


@order_app.command("reply")
def order_reply(
    order_id: Annotated[int, typer.Argument(help="The order's id.")],
    choice: Annotated[
        str,
        typer.Option(
            "--reply",
            help="out_for_delivery, cooking, weather_delay, short_handed, or custom (with --text)",
        ),
    ] = "cooking",
    text: Annotated[
        str | None, typer.Option(help="The custom reply, at most 30 characters.")
    ] = None,
    url: UrlOption = DEFAULT_URL,
    user: UserOption = "demo",
) -> None:
    """Answer an order's open reminders; the customer sees the reply."""
    said = _act(url, user, lambda client: client.reply(order_id, choice, text))
    typer.echo(f"replied to order {order_id}: {said}")
