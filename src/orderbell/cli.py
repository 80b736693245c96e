"""The ``orderbell`` command: serve, migrate, set up shops, seed the demo."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from orderbell.domain.errors import OrderbellError
from orderbell.settings import Settings

T = TypeVar("T")

app = typer.Typer(
    help="orderbell: real-time order alerts for takeout shops.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
shop_app = typer.Typer(help="Shops.", no_args_is_help=True)
merchant_app = typer.Typer(help="A shop's staff logins.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(shop_app, name="shop")
app.add_typer(merchant_app, name="merchant")

DatabaseOption = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL [env: ORDERBELL_DATABASE_URL]"),
]


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "settings"
            typer.secho(f"error: {where}: {error['msg']}", err=True, fg="red")
        raise typer.Exit(2) from exc


def _run(make: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(make())  # type: ignore[arg-type]
    except OrderbellError as exc:
        typer.secho(f"error: {exc.message}", err=True, fg="red")
        raise typer.Exit(1) from exc


async def _with_database(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    from orderbell.storage.database import Database

    database = Database(settings.database_url)
    try:
        return await work(database)
    finally:
        await database.dispose()


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Address to listen on [env: ORDERBELL_HOST]")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port [env: ORDERBELL_PORT]")] = None,
    database_url: DatabaseOption = None,
    broker_url: Annotated[
        str | None,
        typer.Option("--broker-url", help="memory:// or redis://... [env: ORDERBELL_BROKER_URL]"),
    ] = None,
    migrate: Annotated[bool, typer.Option(help="Apply database migrations first.")] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Server processes on this port; above 1 needs a redis:// broker "
            "[env: ORDERBELL_WORKERS]",
        ),
    ] = None,
) -> None:
    """Start the server."""
    from orderbell.bootstrap import create_app
    from orderbell.serving import serve as run_server

    options = {
        "host": host,
        "port": port,
        "database_url": database_url,
        "broker_url": broker_url,
        "workers": workers,
    }
    settings = _settings(**options)
    if settings.workers > 1 and settings.broker_url.split("://", 1)[0].lower() == "memory":
        typer.secho(
            "error: --workers above 1 needs a broker the processes share: "
            "--broker-url redis://HOST:6379/0 (memory:// reaches one process only)",
            err=True,
            fg="red",
        )
        raise typer.Exit(2)
    if migrate:
        from orderbell.storage.schema import upgrade_database

        upgrade_database(settings.database_url)
    shown = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    base = f"http://{shown}:{settings.port}"
    typer.echo(f"orderbell serving on {base}")
    typer.echo(f"  merchant console: {base}/console")
    typer.echo(f"  API docs:        {base}/docs")
    typer.echo(f"  console socket:  ws://{shown}:{settings.port}/ws/<sid>?token=<merchant token>")
    if settings.workers > 1:
        typer.echo(f"  worker processes: {settings.workers}")
        # Workers build their app from the environment: what was given as
        # options here must be there too.
        export_settings(options)
        _serve_workers(settings)
    else:
        run_server(create_app(settings), settings)


#: The app factory worker processes import (settings from ORDERBELL_* variables).
APP_FACTORY = "orderbell.bootstrap:app_from_environment"


def export_settings(options: dict[str, Any], environ: Any = None) -> None:
    """Put the options that were given (not None) into ``ORDERBELL_*`` variables."""
    environ = os.environ if environ is None else environ
    for name, value in options.items():
        if value is not None:
            environ[f"ORDERBELL_{name.upper()}"] = str(value)


def _serve_workers(settings: Settings) -> None:
    from uvicorn.supervisors import Multiprocess

    from orderbell.serving import listening_socket, uvicorn_config

    config = uvicorn_config(APP_FACTORY, settings, factory=True, workers=settings.workers)
    # One listening socket, made here and shared: the kernel spreads new
    # connections over the workers, which accept on it.
    sock = listening_socket(
        settings.host, settings.port, send_buffer=settings.socket_send_buffer_bytes
    )
    Multiprocess(config, sockets=[sock]).run()


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseOption = None) -> None:
    """Apply every migration the database lacks."""
    from orderbell.storage.schema import upgrade_database

    settings = _settings(database_url=database_url)
    upgrade_database(settings.database_url)
    typer.echo("database is up to date")


@shop_app.command("create")
def shop_create(
    name: Annotated[str, typer.Argument(help="The shop's name.")],
    database_url: DatabaseOption = None,
) -> None:
    """Open a shop; prints its id."""
    from orderbell.services.accounts import create_shop

    settings = _settings(database_url=database_url)
    shop = _run(lambda: _with_database(settings, lambda db: create_shop(db, name)))
    typer.echo(f"created shop {shop.id} {shop.name!r}")


api_key_app = typer.Typer(help="A shop's keys for the publish API.", no_args_is_help=True)
shop_app.add_typer(api_key_app, name="api-key")


@api_key_app.command("create")
def api_key_create(
    shop: Annotated[int, typer.Option("--shop", help="The shop's id.")],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "publish API",
    database_url: DatabaseOption = None,
) -> None:
    """Make an API key for the publish API; it is shown once, only its hash is kept."""
    from orderbell.services.publishing import create_api_key

    settings = _settings(database_url=database_url)
    issued = _run(lambda: _with_database(settings, lambda db: create_api_key(db, shop, name)))
    typer.echo(f"created API key {issued.prefix}... for shop {issued.shop_id} ({issued.name!r})")
    typer.echo("store it now, it is not shown again:")
    typer.echo(issued.key)


@api_key_app.command("revoke")
def api_key_revoke(
    shop: Annotated[int, typer.Option("--shop", help="The shop's id.")],
    prefix: Annotated[
        str, typer.Argument(help="The key's first 12 characters, as shown at creation.")
    ],
    database_url: DatabaseOption = None,
) -> None:
    """Revoke a shop's API key by its prefix."""
    from orderbell.services.publishing import revoke_api_key

    settings = _settings(database_url=database_url)
    count = _run(lambda: _with_database(settings, lambda db: revoke_api_key(db, shop, prefix)))
    if not count:
        typer.secho(f"error: no live key of shop {shop} starts with {prefix!r}", err=True, fg="red")
        raise typer.Exit(1)
    typer.echo(f"revoked {count} key(s)")


@merchant_app.command("create")
def merchant_create(
    shop: Annotated[int, typer.Option("--shop", help="The shop's id.")],
    username: Annotated[str, typer.Option(help="Login name.")],
    name: Annotated[str | None, typer.Option(help="Display name (default: the username).")] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Give a shop's staff member a login.

    The password is read from ORDERBELL_MERCHANT_PASSWORD or asked for, never
    taken as an argument (it would land in the shell history).
    """
    from orderbell.services.accounts import create_merchant

    password = os.environ.get("ORDERBELL_MERCHANT_PASSWORD") or typer.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    if len(password) < 6:
        typer.secho("error: the password needs at least 6 characters", err=True, fg="red")
        raise typer.Exit(2)
    settings = _settings(database_url=database_url)
    merchant = _run(
        lambda: _with_database(
            settings,
            lambda db: create_merchant(
                db, shop_id=shop, username=username, password=password, name=name or username
            ),
        )
    )
    typer.echo(f"created merchant {merchant.username!r} of shop {merchant.shop_id}")


@app.command()
def demo(database_url: DatabaseOption = None) -> None:
    """Seed the demo shops, menus, logins and customer (safe to run again)."""
    from orderbell.services.demo import DEMO_CUSTOMER_PHONE, DEMO_PASSWORD, seed_demo

    settings = _settings(database_url=database_url)
    created = _run(lambda: _with_database(settings, seed_demo))
    for line in created:
        typer.echo(f"created {line}")
    if not created:
        typer.echo("demo data already present")
    typer.echo(
        f"demo logins: merchant demo / {DEMO_PASSWORD} (shop 1), demo2 / {DEMO_PASSWORD} (shop 2); "
        f"customer {DEMO_CUSTOMER_PHONE} / {DEMO_PASSWORD}"
    )


@app.command()
def listen(
    url: Annotated[
        str, typer.Option(help="The server, e.g. http://127.0.0.1:8080")
    ] = "http://127.0.0.1:8080",
    user: Annotated[str, typer.Option("--user", "-u", help="Merchant login.")] = "demo",
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
    from orderbell.client.terminal import Listener, default_state_file, run

    password = _password()
    try:
        client = ConsoleClient(
            url, user, password, state_file=state_file or default_state_file(url, user)
        )
    except ValueError as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        raise typer.Exit(2) from exc
    listener = Listener(
        client, json_lines=json_lines, bell=bell, speak=speak, colour=sys.stdout.isatty()
    )
    with _client_failures():
        run(listener)


def _password() -> str:
    return os.environ.get("ORDERBELL_PASSWORD") or typer.prompt("Password", hide_input=True)


@contextmanager
def _client_failures() -> Iterator[None]:
    """A refused login exits with 2, an unreachable server with 3, each with one line."""
    from orderbell.client import LoginFailed, ServerUnreachable

    try:
        yield
    except LoginFailed as exc:
        typer.secho(f"error: login refused: {exc}", err=True, fg="red")
        raise typer.Exit(2) from exc
    except ServerUnreachable as exc:
        typer.secho(f"error: {exc}", err=True, fg="red")
        raise typer.Exit(3) from exc


order_app = typer.Typer(help="Act on a shop's orders from the terminal.", no_args_is_help=True)
app.add_typer(order_app, name="order")

UrlOption = Annotated[str, typer.Option(help="The server, e.g. http://127.0.0.1:8080")]
UserOption = Annotated[str, typer.Option("--user", "-u", help="Merchant login.")]


def _act(url: str, user: str, action: Callable[[Any], Awaitable[object]]) -> object:
    from orderbell.client import ApiError, ConsoleClient

    password = _password()

    async def run() -> object:
        async with ConsoleClient(url, user, password) as client:
            return await action(client)

    try:
        with _client_failures():
            return asyncio.run(run())
    except ApiError as exc:
        typer.secho(f"error: {exc.message}", err=True, fg="red")
        raise typer.Exit(1) from exc


@order_app.command("confirm")
def order_confirm(
    order_id: Annotated[int, typer.Argument(help="The order's id.")],
    url: UrlOption = "http://127.0.0.1:8080",
    user: UserOption = "demo",
) -> None:
    """Accept an order that waits for the shop (password from ORDERBELL_PASSWORD or a prompt)."""
    _act(url, user, lambda client: client.confirm(order_id))
    typer.echo(f"order {order_id} accepted")


@order_app.command("reject")
def order_reject(
    order_id: Annotated[int, typer.Argument(help="The order's id.")],
    reason: Annotated[str, typer.Option(help="What the customer is told.")],
    url: UrlOption = "http://127.0.0.1:8080",
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
    url: UrlOption = "http://127.0.0.1:8080",
    user: UserOption = "demo",
) -> None:
    """Answer an order's open reminders; the customer sees the reply."""
    said = _act(url, user, lambda client: client.reply(order_id, choice, text))
    typer.echo(f"replied to order {order_id}: {said}")


def main() -> None:
    """Entry point of the ``orderbell`` console script."""
    app()
