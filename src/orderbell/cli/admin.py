"""Commands that set a shop up: ``shop create``, ``shop api-key``, ``merchant create``,
``printer add|list|remove``."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from orderbell.cli.common import DatabaseOption, fail, load_settings, run, with_database

shop_app = typer.Typer(help="Shops.", no_args_is_help=True)
merchant_app = typer.Typer(help="A shop's staff logins.", no_args_is_help=True)
api_key_app = typer.Typer(help="A shop's keys for the publish API.", no_args_is_help=True)
shop_app.add_typer(api_key_app, name="api-key")

ShopOption = Annotated[int, typer.Option("--shop", help="The shop's id.")]


@shop_app.command("create")
def shop_create(
    name: Annotated[str, typer.Argument(help="The shop's name.")],
    database_url: DatabaseOption = None,
) -> None:
    """Open a shop; prints its id."""
    from orderbell.services.accounts import create_shop

    settings = load_settings(database_url=database_url)
    shop = run(lambda: with_database(settings, lambda db: create_shop(db, name)))
    typer.echo(f"created shop {shop.id} {shop.name!r}")


@api_key_app.command("create")
def api_key_create(
    shop: ShopOption,
    name: Annotated[str, typer.Option(help="What the key is for.")] = "publish API",
    database_url: DatabaseOption = None,
) -> None:
    """Make an API key for the publish API; it is shown once, only its hash is kept."""
    from orderbell.services.publishing import create_api_key

    settings = load_settings(database_url=database_url)
    issued = run(lambda: with_database(settings, lambda db: create_api_key(db, shop, name)))
    typer.echo(f"created API key {issued.prefix}... for shop {issued.shop_id} ({issued.name!r})")
    typer.echo("store it now, it is not shown again:")
    typer.echo(issued.key)


@api_key_app.command("revoke")
def api_key_revoke(
    shop: ShopOption,
    prefix: Annotated[
        str, typer.Argument(help="The key's first 12 characters, as shown at creation.")
    ],
    database_url: DatabaseOption = None,
) -> None:
    """Revoke a shop's API key by its prefix."""
    from orderbell.services.publishing import revoke_api_key

    settings = load_settings(database_url=database_url)
    count = run(lambda: with_database(settings, lambda db: revoke_api_key(db, shop, prefix)))
    if not count:
        raise fail(f"no live key of shop {shop} starts with {prefix!r}", 1)
    typer.echo(f"revoked {count} key(s)")


@merchant_app.command("create")
def merchant_create(
    shop: ShopOption,
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
        raise fail("the password needs at least 6 characters", 2)
    settings = load_settings(database_url=database_url)
    merchant = run(
        lambda: with_database(
            settings,
            lambda db: create_merchant(
                db, shop_id=shop, username=username, password=password, name=name or username
            ),
        )
    )
    typer.echo(f"created merchant {merchant.username!r} of shop {merchant.shop_id}")


printer_app = typer.Typer(help="A shop's receipt printers.", no_args_is_help=True)


@printer_app.command("add")
def printer_add(
    shop: ShopOption,
    kind: Annotated[str, typer.Option(help="escpos-tcp or cloudprnt.")] = "escpos-tcp",
    address: Annotated[
        str | None, typer.Option(help="host:port of an escpos-tcp printer, e.g. 192.168.1.50:9100.")
    ] = None,
    width: Annotated[int, typer.Option(help="Paper width in mm: 58 or 80.")] = 80,
    name: Annotated[str, typer.Option(help="What the staff call it.")] = "",
    database_url: DatabaseOption = None,
) -> None:
    """Add a printer to a shop; the running servers print on it without a restart.
    A cloudprnt printer's login and secret are printed once."""
    from orderbell.services.printing import printers

    settings = load_settings(database_url=database_url)
    added = run(
        lambda: with_database(
            settings,
            lambda db: printers.add(
                db, shop_id=shop, kind=kind, name=name, address=address, width=width
            ),
        )
    )
    printer = added.printer
    where = printer.address or "polls /cloudprnt"
    typer.echo(f"added printer {printer.id} {printer.name!r} ({printer.kind}, {where}, {width} mm)")
    if added.secret is not None:
        typer.echo("set these on the printer now, the secret is not shown again:")
        typer.echo(f"login: {printer.login}")
        typer.echo(f"secret: {added.secret}")


@printer_app.command("list")
def printer_list(
    shop: Annotated[int | None, typer.Option("--shop", help="Only this shop's.")] = None,
    database_url: DatabaseOption = None,
) -> None:
    """List printers: id, shop, kind, address, width, status, last heard."""
    from orderbell.services.printing import printers

    settings = load_settings(database_url=database_url)
    found = run(lambda: with_database(settings, lambda db: printers.printers(db, shop)))
    for p in found:
        heard = p.last_heard_at.isoformat(timespec="seconds") if p.last_heard_at else "never"
        typer.echo(
            f"{p.id}\tshop {p.shop_id}\t{p.kind}\t{p.address or p.login}\t{p.width} mm\t"
            f"{'enabled' if p.enabled else 'disabled'}\t{p.status}\theard {heard}\t{p.name}"
        )


@printer_app.command("remove")
def printer_remove(
    printer_id: Annotated[int, typer.Argument(help="The printer's id.")],
    database_url: DatabaseOption = None,
) -> None:
    """Remove a printer; its jobs not yet printed are given up."""
    from orderbell.services.printing import printers

    settings = load_settings(database_url=database_url)
    given_up = run(
        lambda: with_database(settings, lambda db: printers.remove(db, None, printer_id))
    )
    typer.echo(f"removed printer {printer_id}; {given_up} job(s) given up")
