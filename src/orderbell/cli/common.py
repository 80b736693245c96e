"""What every ``orderbell`` command needs: settings, a database, one error line."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError

from orderbell.domain.errors import OrderbellError
from orderbell.settings import Settings

T = TypeVar("T")

DatabaseOption = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL [env: ORDERBELL_DATABASE_URL]"),
]


def fail(message: str, status: int) -> typer.Exit:
    """Print ``error: <message>`` in red on stderr; the exit to raise with ``status``."""
    typer.secho(f"error: {message}", err=True, fg="red")
    return typer.Exit(status)


def load_settings(**overrides: Any) -> Settings:
    """The settings from ``ORDERBELL_*`` variables, with the options that were given
    (not None) on top; a bad value exits with 2 and one line per mistake."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "settings"
            typer.secho(f"error: {where}: {error['msg']}", err=True, fg="red")
        raise typer.Exit(2) from exc


def run(make: Callable[[], Awaitable[T]]) -> T:
    """Run the coroutine ``make()`` returns; a refusal by the shop's rules exits with 1."""
    try:
        return asyncio.run(make())  # type: ignore[arg-type]
    except OrderbellError as exc:
        raise fail(exc.message, 1) from exc


async def with_database(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """``work(database)`` on the configured database, disposed of afterwards."""
    from orderbell.storage import sqlite_inline
    from orderbell.storage.database import Database

    # The same check as the server's: on an aiosqlite the inline connection
    # does not fit, plain aiosqlite (and the server logs why).
    inline = sqlite_inline.unsupported_for(settings.database_url) is None
    database = Database(settings.database_url, inline_sqlite=inline)
    try:
        return await work(database)
    finally:
        await database.dispose()
