"""Commands that run or prepare a server: ``serve``, ``db upgrade``, ``demo``."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from orderbell.cli.common import DatabaseOption, fail, load_settings, run, with_database
from orderbell.settings import Settings

db_app = typer.Typer(help="The database schema.", no_args_is_help=True)

#: The app factory worker processes import (settings from ORDERBELL_* variables).
APP_FACTORY = "orderbell.bootstrap:app_from_environment"


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
    settings = load_settings(**options)
    if settings.workers > 1 and settings.broker_url.split("://", 1)[0].lower() == "memory":
        raise fail(
            "--workers above 1 needs a broker the processes share: "
            "--broker-url redis://HOST:6379/0 (memory:// reaches one process only)",
            2,
        )
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

    settings = load_settings(database_url=database_url)
    upgrade_database(settings.database_url)
    typer.echo("database is up to date")


def demo(database_url: DatabaseOption = None) -> None:
    """Seed the demo shops, menus, logins and customer (safe to run again)."""
    from orderbell.services.demo import DEMO_CUSTOMER_PHONE, DEMO_PASSWORD, seed_demo

    settings = load_settings(database_url=database_url)
    created = run(lambda: with_database(settings, seed_demo))
    for line in created:
        typer.echo(f"created {line}")
    if not created:
        typer.echo("demo data already present")
    typer.echo(
        f"demo logins: merchant demo / {DEMO_PASSWORD} (shop 1), demo2 / {DEMO_PASSWORD} (shop 2); "
        f"customer {DEMO_CUSTOMER_PHONE} / {DEMO_PASSWORD}"
    )
