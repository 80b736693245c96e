"""The one place where orderbell's parts are built and wired together.

``create_app(settings)`` is the composition root: database, broker, hub,
outbox and token issuer are made here from the settings and handed to the
web layer through ``app.state.orderbell``. Nothing else builds them.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import cast
from zoneinfo import ZoneInfo

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from orderbell import __version__
from orderbell.broker import create_broker
from orderbell.delivery.hub import Hub
from orderbell.delivery.presence import create_presence
from orderbell.domain.escalation import Ladder
from orderbell.domain.events import Event
from orderbell.logs import install_filters
from orderbell.metrics import Metrics
from orderbell.parts import Orderbell
from orderbell.protocol import MAX_CONSOLE_MESSAGE
from orderbell.security import TokenIssuer
from orderbell.services.alert_acks import AlertAcks
from orderbell.services.dispatcher import Dispatcher, Sender
from orderbell.services.escalation import Escalation
from orderbell.services.outbox import Outbox
from orderbell.services.printing.part import Printing
from orderbell.services.printing.sender import PRINT_DELAYS, EscposSender
from orderbell.services.push import Push
from orderbell.services.replay import LogSource, Retention
from orderbell.services.schedule import Schedule
from orderbell.services.staff import merchant_name
from orderbell.services.unattended import UnattendedShops, heard_by_any
from orderbell.settings import Settings
from orderbell.storage import sqlite_inline
from orderbell.storage.database import Database
from orderbell.storage.outgoing import PRINT
from orderbell.web.console_frames import ConsoleFrames
from orderbell.web.envelope import OrjsonResponse, install_error_handlers
from orderbell.web.live_console import LiveConsoles
from orderbell.web.presenters import Presenter

log = logging.getLogger(__name__)

NO_INLINE_SQLITE = (
    "SQLite statements run on aiosqlite's worker thread: %s. Every statement then "
    "crosses threads twice, which costs CPU on each order and lowers the order rate one "
    "process sustains (docs/performance.md). Install the releases pinned in "
    "requirements.lock to run them inline."
)


def build(settings: Settings, *, inline_sqlite: bool = True) -> Orderbell:
    """Make every part from ``settings``; nothing is connected yet."""
    database = Database(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        inline_sqlite=inline_sqlite,
    )
    broker = create_broker(
        settings.broker_url,
        channel_prefix=settings.broker_channel_prefix,
        health_check_interval=settings.broker_health_check_seconds,
        timeout=settings.broker_timeout_seconds,
        reconnect_max=settings.broker_reconnect_max_seconds,
    )
    hub = Hub(broker, LogSource(database))
    # What was published while the broker was away is read from the log.
    broker.on_reconnect(hub.catch_up)
    outbox = Outbox(
        database,
        broker,
        relay_interval=settings.relay_interval_seconds,
        backlog=settings.publish_backlog_max,
        report_interval=settings.broker_outage_report_seconds,
        drain_timeout=settings.broker_timeout_seconds,
    )
    presence = create_presence(
        settings.broker_url,
        broker,
        prefix=settings.broker_channel_prefix,
        # A process's devices outlive its last heartbeat round by two
        # heartbeat timeouts, then vanish (docs/decisions/presence.md).
        ttl=2 * settings.heartbeat_timeout_seconds,
        timeout=settings.broker_timeout_seconds,
        debounce=settings.presence_debounce_seconds,
        names=lambda merchant_id: merchant_name(database, merchant_id),
    )
    # One write per heartbeat for all of the process's devices.
    hub.on_beat = presence.beat
    # When consoles first showed and rang each alert (their ``ack`` frames).
    acks = AlertAcks(database)
    consoles = LiveConsoles(
        hub,
        presence=presence,
        frames=ConsoleFrames(presence, acks),
        heartbeat=settings.heartbeat_seconds,
        heartbeat_timeout=settings.heartbeat_timeout_seconds,
        max_message=MAX_CONSOLE_MESSAGE,
    )
    push = Push(
        database,
        after=settings.push_after_seconds,
        interval=settings.push_check_seconds,
        ttl=settings.push_ttl_seconds,
    )
    dispatcher = outgoing_dispatcher(settings, outbox, push)
    push.poke = dispatcher.poke
    printing = Printing(
        outbox,
        cast(EscposSender, dispatcher.senders[PRINT]),
        check_interval=settings.printer_check_seconds,
        offline_after=settings.printer_offline_after_seconds,
    )
    metrics = Metrics(hub, consoles, outbox, broker)
    escalation = Escalation(
        outbox,
        Ladder(
            warn_seconds=settings.escalation_warn_seconds,
            notify_seconds=settings.escalation_notify_seconds,
            notify_repeat_seconds=settings.escalation_notify_repeat_seconds,
            auto_cancel_seconds=settings.escalation_auto_cancel_minutes * 60,
        ),
        interval=settings.escalation_check_seconds,
    )
    escalation.on_auto_cancelled = metrics.orders_auto_cancelled.inc
    metrics.watch_dispatcher(dispatcher)
    return Orderbell(
        settings=settings,
        database=database,
        broker=broker,
        hub=hub,
        consoles=consoles,
        presence=presence,
        outbox=outbox,
        schedule=Schedule(
            outbox,
            payment_timeout=timedelta(minutes=settings.payment_timeout_minutes),
            payment_check_interval=settings.payment_timeout_check_seconds,
            delivery_timeout=timedelta(minutes=settings.delivery_timeout_minutes),
            delivery_check_interval=settings.delivery_timeout_check_seconds,
        ),
        unattended=UnattendedShops(
            outbox,
            # With auto-accept on, a printer online hears the shop's orders too.
            heard_by_any(presence.heard, printing.listening),
            pause_after=settings.unattended_pause_seconds,
            # After every process restarts at once, consoles get time to come
            # back (and the devices of a dead process to expire) before any
            # shop is judged unheard.
            grace=2 * settings.heartbeat_timeout_seconds + settings.unattended_pause_seconds,
            interval=settings.unattended_check_seconds,
        ),
        retention=Retention(
            max_age=timedelta(hours=settings.replay_max_age_hours),
            max_count=settings.replay_max_alerts,
        ),
        tokens=TokenIssuer(settings.secret_key, ttl=timedelta(minutes=settings.token_ttl_minutes)),
        presenter=Presenter(settings.timezone),
        metrics=metrics,
        escalation=escalation,
        acks=acks,
        dispatcher=dispatcher,
        printing=printing,
        push=push,
    )


def outgoing_dispatcher(settings: Settings, outbox: Outbox, push: Push | None = None) -> Dispatcher:
    """The dispatcher of outgoing rows with its senders (webhooks, ESC/POS print jobs,
    Web Push), wired to the outbox: events become rows in their transaction (an
    accepted order a print job per printer, and a push that closes its notification),
    and a commit that wrote some wakes it."""
    from orderbell.domain.retries import RetryPolicy
    from orderbell.services.printing.jobs import with_print_jobs
    from orderbell.services.push import PushSender
    from orderbell.services.webhooks import WebhookSender
    from orderbell.storage import outgoing

    webhooks = WebhookSender(
        outbox.database,
        timeout=settings.webhook_timeout_seconds,
        allow_private=settings.webhook_allow_private,
        disable_after=timedelta(hours=settings.webhook_disable_after_hours),
        connections=settings.webhook_max_in_flight_per_endpoint,
    )
    printer_sender = EscposSender(
        outbox.database,
        zone=ZoneInfo(settings.timezone),
        timeout=settings.printer_timeout_seconds,
        status_timeout=settings.printer_status_timeout_seconds,
    )
    senders: dict[str, Sender] = {webhooks.kind: webhooks, printer_sender.kind: printer_sender}
    if push is not None:
        senders[PushSender.kind] = PushSender(
            push,
            contact=settings.push_contact,
            ttl=settings.push_ttl_seconds,
            timeout=settings.webhook_timeout_seconds,
            allow_private=settings.push_allow_private,
        )
    dispatcher = Dispatcher(
        outbox,
        senders,
        retry=RetryPolicy(
            scale=settings.webhook_retry_scale,
            give_up_after=timedelta(hours=settings.webhook_give_up_hours),
        ),
        per_target=settings.webhook_max_in_flight_per_endpoint,
        overall=settings.webhook_max_in_flight,
        poll_interval=settings.webhook_poll_seconds,
        lease=settings.webhook_lease_seconds,
        stop_timeout=settings.webhook_timeout_seconds + 1,
        # A printer gets its tickets one at a time, in order, retried soon.
        serial=(outgoing.PRINT,),
        retries={
            outgoing.PRINT: RetryPolicy(
                delays=PRINT_DELAYS,
                scale=settings.printer_retry_scale,
                give_up_after=timedelta(hours=settings.printer_give_up_hours),
            )
        },
    )
    record = with_print_jobs(outgoing.record_events)
    outbox.record_events = record
    if push is not None:
        # An order accepted after its alert was pushed closes the notification too.
        async def record_events(session: AsyncSession, events: Sequence[Event]) -> int:
            return int(await record(session, events)) + await push.record_handled(session, events)

        outbox.record_events = record_events
    outbox.on_outgoing = dispatcher.poke
    return dispatcher


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app for ``settings`` (read from the environment when not given)."""
    settings = settings or Settings()
    no_inline = sqlite_inline.unsupported_for(settings.database_url)
    parts = build(settings, inline_sqlite=no_inline is None)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # After the server has configured its loggers, so the filters stick.
        install_filters()
        if no_inline is not None:
            log.warning(NO_INLINE_SQLITE, no_inline)
        await parts.broker.connect()
        await parts.outbox.start()
        parts.dispatcher.start()
        await parts.presence.start()
        await parts.acks.start()
        parts.unattended.start()
        parts.printing.start()
        await parts.push.start()
        if settings.scheduled_tasks:
            parts.schedule.start()
            parts.escalation.start()
        heartbeat = asyncio.create_task(parts.hub.heartbeat(settings.heartbeat_seconds))
        keepalive = asyncio.create_task(parts.consoles.keep_alive())
        # Everything made so far (modules, the app, its parts) lives as long
        # as the process: kept out of the garbage collector's full passes,
        # which would otherwise walk it all again and again under load.
        gc.freeze()
        try:
            yield
        finally:
            heartbeat.cancel()
            keepalive.cancel()
            await parts.unattended.stop()
            await parts.printing.stop()
            await parts.push.stop()
            await parts.consoles.close()
            await parts.presence.close()
            await parts.acks.stop()
            await parts.schedule.stop()
            await parts.escalation.stop()
            await parts.dispatcher.stop()
            await parts.hub.close()
            await parts.outbox.stop()
            await parts.broker.disconnect()
            await parts.database.dispose()

    app = FastAPI(
        title="orderbell",
        version=__version__,
        summary="Real-time order alerts for takeout shops.",
        default_response_class=OrjsonResponse,
        lifespan=lifespan,
    )
    app.state.orderbell = parts
    install_error_handlers(app)
    from orderbell.web.guards import install_guards

    install_guards(app, settings)

    from orderbell.web import console_socket
    from orderbell.web.routes import (
        cloudprnt,
        console_page,
        customer_orders,
        customers,
        devices,
        merchants,
        printing,
        publish,
        push_api,
        reports,
        shop_alerts,
        shop_orders,
        shop_profile,
        shop_status,
        system,
        webhooks,
    )
    from orderbell.web.routes import escalation as escalation_routes

    routers = (
        system,
        customers,
        customer_orders,
        merchants,
        shop_orders,
        shop_alerts,
        # Before shop_status: its PUT /admin/shop/{status} would take "escalation".
        escalation_routes,
        # Before shop_status: its PUT /admin/shop/{status} would take /admin/shop/auto-accept.
        printing,
        cloudprnt,
        shop_status,
        shop_profile,
        devices,
        publish,
        reports,
        webhooks,
        push_api,
    )
    for module in (*routers, console_socket, console_page):
        app.include_router(module.router)
    return app


def app_from_environment() -> FastAPI:
    """App factory for ``uvicorn --factory`` and worker processes: settings from the environment."""
    return create_app(Settings())
