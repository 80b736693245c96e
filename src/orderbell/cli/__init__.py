"""The ``orderbell`` command.

One module per audience: ``server`` runs and prepares a server (``serve``,
``db upgrade``, ``demo``), ``admin`` sets shops up (``shop``, ``merchant``),
``client`` is a shop's staff at a terminal (``listen``, ``order``), ``webhooks``
the deployment's webhook endpoints (``webhook``), ``push`` its Web Push key. This
module puts them under one command; ``main`` is the console script.
"""

from __future__ import annotations

import typer

from orderbell.cli.admin import merchant_app, printer_app, shop_app
from orderbell.cli.client import listen, order_app
from orderbell.cli.push import push_app
from orderbell.cli.server import db_app, demo, export_settings, serve
from orderbell.cli.webhooks import webhook_app

__all__ = ["app", "export_settings", "main"]

app = typer.Typer(
    help="orderbell: real-time order alerts for takeout shops.",
    no_args_is_help=True,
    add_completion=False,
)
app.command()(serve)
app.command()(demo)
app.command()(listen)
app.add_typer(db_app, name="db")
app.add_typer(shop_app, name="shop")
app.add_typer(merchant_app, name="merchant")
app.add_typer(printer_app, name="printer")
app.add_typer(order_app, name="order")
app.add_typer(webhook_app, name="webhook")
app.add_typer(push_app, name="push")


def main() -> None:
    """Entry point of the ``orderbell`` console script."""
    app()
