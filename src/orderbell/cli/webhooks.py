"""``orderbell webhook``: endpoints of the whole deployment (or of one shop), and deliveries.

The commands talk to the database, as ``orderbell shop create`` does; the
running servers pick up an endpoint added or removed here within a second.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import typer

from orderbell.cli.common import DatabaseOption, fail, load_settings, run, with_database

webhook_app = typer.Typer(
    help="Webhook endpoints (signed HTTP callbacks) and their deliveries.", no_args_is_help=True
)

ShopFilter = Annotated[
    int | None,
    typer.Option("--shop", help="Only this shop's (default: every endpoint, any shop)."),
]
EndpointId = Annotated[int, typer.Argument(help="The endpoint's id (see `webhook list`).")]


def _print(data: Any) -> None:
    typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


@webhook_app.command("add")
def add(
    url: Annotated[str, typer.Option("--url", help="http:// or https:// URL to POST events to.")],
    events: Annotated[
        str,
        typer.Option(
            "--events", help="Comma-separated event names, e.g. order.paid,order.unaccepted."
        ),
    ],
    shop: Annotated[
        int | None,
        typer.Option("--shop", help="The shop whose events it takes (default: every shop)."),
    ] = None,
    description: Annotated[str, typer.Option(help="What the endpoint is for.")] = "",
    database_url: DatabaseOption = None,
) -> None:
    """Add an endpoint; prints its id and its signing secret (shown this once)."""
    from orderbell.services import webhooks

    settings = load_settings(database_url=database_url)
    added = run(
        lambda: with_database(
            settings,
            lambda db: webhooks.add(
                db,
                shop_id=shop,
                url=url,
                events=events.split(","),
                description=description,
                allow_private=settings.webhook_allow_private,
                resolve_timeout=settings.webhook_timeout_seconds,
            ),
        )
    )
    whose = f"shop {shop}" if shop is not None else "every shop"
    typer.echo(f"added webhook endpoint {added.endpoint.id} for {whose}: {added.endpoint.url}")
    typer.echo(f"events: {added.endpoint.events}")
    typer.echo("signing secret (store it now, it is not shown again):")
    typer.echo(added.secret)


@webhook_app.command("list")
def list_(shop: ShopFilter = None, database_url: DatabaseOption = None) -> None:
    """List endpoints (JSON), without their secrets."""
    from orderbell.services import webhooks

    settings = load_settings(database_url=database_url)
    found = run(lambda: with_database(settings, lambda db: webhooks.endpoints(db, shop)))
    _print([webhooks.endpoint_public(e) for e in found])


@webhook_app.command("remove")
def remove(endpoint: EndpointId, database_url: DatabaseOption = None) -> None:
    """Remove an endpoint; its deliveries not yet made are given up."""
    from orderbell.services import webhooks

    settings = load_settings(database_url=database_url)
    given_up = run(lambda: with_database(settings, lambda db: webhooks.remove(db, None, endpoint)))
    typer.echo(f"removed webhook endpoint {endpoint} ({given_up} deliveries given up)")


@webhook_app.command("test")
def test(endpoint: EndpointId, database_url: DatabaseOption = None) -> None:
    """Queue a webhook.test event for an endpoint; a running server sends it within a second."""
    from orderbell.services import webhooks
    from orderbell.services.outbox import Outbox

    settings = load_settings(database_url=database_url)

    async def queue(db: Any) -> dict[str, Any]:
        from orderbell.broker.memory import MemoryBroker

        return await webhooks.send_test(Outbox(db, MemoryBroker()), None, endpoint)

    shown = run(lambda: with_database(settings, queue))
    typer.echo(f"queued delivery {shown['id']} ({shown['messageId']})")


@webhook_app.command("deliveries")
def deliveries(
    endpoint: Annotated[
        int | None, typer.Option("--endpoint", help="Only this endpoint's.")
    ] = None,
    state: Annotated[
        str | None, typer.Option("--state", help="queued, delivered or failed.")
    ] = None,
    event: Annotated[str | None, typer.Option("--event", help="Only this event type.")] = None,
    shop: ShopFilter = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100)] = 20,
    database_url: DatabaseOption = None,
) -> None:
    """List deliveries, newest first, with their attempts (JSON)."""
    from orderbell.services import webhooks

    if state is not None and state not in ("queued", "delivered", "failed"):
        raise fail("--state is one of queued, delivered, failed", 2)
    if event is not None and event not in webhooks.EVENT_NAMES:
        raise fail(f"unknown event {event!r}; the events are {', '.join(webhooks.EVENT_NAMES)}", 2)
    settings = load_settings(database_url=database_url)
    found = run(
        lambda: with_database(
            settings,
            lambda db: webhooks.deliveries(
                db, shop, endpoint_id=endpoint, state=state, event_type=event, page_size=limit
            ),
        )
    )
    _print(found)


@webhook_app.command("resend")
def resend(
    delivery: Annotated[int, typer.Argument(help="The delivery's id (see `webhook deliveries`).")],
    database_url: DatabaseOption = None,
) -> None:
    """Send a delivered or failed delivery again, with the same webhook-id."""
    from orderbell.services import webhooks

    settings = load_settings(database_url=database_url)
    shown = run(lambda: with_database(settings, lambda db: webhooks.resend(db, None, delivery)))
    typer.echo(f"queued delivery {shown['id']} again ({shown['messageId']})")
