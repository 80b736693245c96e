"""``orderbell push``: the deployment's Web Push (VAPID) key pair."""

from __future__ import annotations

import typer

from orderbell.cli.common import DatabaseOption, load_settings, run, with_database

push_app = typer.Typer(help="Web Push for the shops' devices.", no_args_is_help=True)


@push_app.command("keys")
def keys(database_url: DatabaseOption = None) -> None:
    """Print the deployment's VAPID public key (base64url); the key pair is made and
    stored in the database the first time, and kept: every process and restart uses it."""
    from orderbell.services.push import ensure_keys

    settings = load_settings(database_url=database_url)
    found = run(lambda: with_database(settings, ensure_keys))
    typer.echo(found.public_key)
