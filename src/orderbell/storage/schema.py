"""Bringing a database's schema up to date with the Alembic migrations."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(database_url: str) -> Config:
    """An Alembic configuration for ``database_url``, with no ini file needed."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Alembic's config interpolates %-signs; a password may contain them.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_database(database_url: str, revision: str = "head") -> None:
    """Apply every migration up to ``revision``.

    Runs its own event loop, so call it from synchronous code (the CLI, a
    test fixture), not from inside a running loop.
    """
    command.upgrade(alembic_config(database_url), revision)
