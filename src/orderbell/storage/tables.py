"""The tables, as SQLAlchemy 2 mapped classes.

Column names follow the original system's so that its reports and habits
carry over; ``shop_id`` and the ``alert`` log are what orderbell adds.
Times are stored as naive UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class Money(TypeDecorator[Decimal]):
    """An amount of yuan, stored as whole cents so no database rounds it through a float."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return int((Decimal(value) * 100).to_integral_value())

    def process_result_value(self, value: int | None, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(value) / 100).quantize(Decimal("0.01"))


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Now, as the naive UTC time the tables store."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    """Base of every table."""

    metadata = MetaData(naming_convention=NAMING)


class Shop(Base):
    """A takeout shop; ``alert_seq`` is the seq of its latest alert.

    ``status`` is ``open``, ``closed`` (by hand) or ``paused`` (by the
    system), see ``domain.shop_status``; ``status_reason`` and
    ``status_since`` say why and since when (empty: open since the shop
    was made).
    """

    __tablename__ = "shop"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    pack_fee: Mapped[Decimal] = mapped_column(Money(), default=Decimal("1.00"))
    delivery_fee: Mapped[Decimal] = mapped_column(Money(), default=Decimal("6.00"))
    alert_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(8), default="open", server_default="open")
    status_reason: Mapped[str | None] = mapped_column(String(64), default=None)
    status_since: Mapped[datetime | None] = mapped_column(default=None)
    #: Minutes the shop usually needs to prepare an order: what "accept" offers first.
    prep_minutes: Mapped[int] = mapped_column(SmallInteger, default=20, server_default="20")
    #: Whether a paid order is accepted at once (and its ticket printed) without staff.
    auto_accept: Mapped[bool] = mapped_column(default=False, server_default=text("false"))


class ShopStatusChange(Base):
    """One change of a shop's status: from, to, why, who (a merchant, or the system) and when."""

    __tablename__ = "shop_status_change"
    __table_args__ = (Index("ix_shop_status_change_shop_time", "shop_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    from_status: Mapped[str] = mapped_column(String(8))
    to_status: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(16))
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchant.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Merchant(Base):
    """A member of a shop's staff, who logs in to its console."""

    __tablename__ = "merchant"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"), index=True)
    username: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Customer(Base):
    """Someone who orders; logs in with a phone number."""

    __tablename__ = "customer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    phone: Mapped[str] = mapped_column(String(11), unique=True)
    name: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AddressBook(Base):
    """A delivery address of a customer; at most one of them is the default."""

    __tablename__ = "address_book"
    __table_args__ = (
        Index(
            "uq_address_book_default",
            "customer_id",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    consignee: Mapped[str] = mapped_column(String(50))
    sex: Mapped[str] = mapped_column(String(2), default="0")
    phone: Mapped[str] = mapped_column(String(11))
    province_name: Mapped[str] = mapped_column(String(32), default="")
    city_name: Mapped[str] = mapped_column(String(32), default="")
    district_name: Mapped[str] = mapped_column(String(32), default="")
    detail: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(100), default="")
    is_default: Mapped[bool] = mapped_column(default=False)


class Dish(Base):
    """A dish on a shop's menu."""

    __tablename__ = "dish"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"), index=True)
    name: Mapped[str] = mapped_column(String(32))
    price: Mapped[Decimal] = mapped_column(Money())
    image: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[int] = mapped_column(SmallInteger, default=1)


class ShoppingCart(Base):
    """A dish in a customer's cart; ``amount`` is the unit price when added."""

    __tablename__ = "shopping_cart"
    __table_args__ = (UniqueConstraint("customer_id", "dish_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    dish_id: Mapped[int] = mapped_column(ForeignKey("dish.id"))
    name: Mapped[str] = mapped_column(String(32))
    image: Mapped[str] = mapped_column(String(255), default="")
    number: Mapped[int] = mapped_column(Integer, default=1)
    amount: Mapped[Decimal] = mapped_column(Money())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Order(Base):
    """An order: the original's columns plus the shop it belongs to."""

    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_shop_status", "shop_id", "status"),
        # The scheduled sweeps (services/schedule.py) look orders up by status and age.
        Index("ix_orders_status_time", "status", "order_time"),
        # The escalation ladder finds the orders whose next step is due; only
        # orders waiting to be accepted have a due time, so the index stays small.
        Index("ix_orders_escalation_due", "escalation_due_at"),
        # The response-time report reads a shop's orders paid in a range of days.
        Index("ix_orders_shop_checkout", "shop_id", "checkout_time"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    number: Mapped[str] = mapped_column(String(50), unique=True)
    status: Mapped[int] = mapped_column(SmallInteger)
    pay_status: Mapped[int] = mapped_column(SmallInteger)
    user_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    address_book_id: Mapped[int] = mapped_column(Integer)
    order_time: Mapped[datetime] = mapped_column(default=utcnow)
    checkout_time: Mapped[datetime | None] = mapped_column(default=None)
    pay_method: Mapped[int] = mapped_column(SmallInteger, default=1)
    amount: Mapped[Decimal] = mapped_column(Money())
    remark: Mapped[str] = mapped_column(String(100), default="")
    phone: Mapped[str] = mapped_column(String(11), default="")
    address: Mapped[str] = mapped_column(String(255), default="")
    consignee: Mapped[str] = mapped_column(String(32), default="")
    cancel_reason: Mapped[str | None] = mapped_column(String(255), default=None)
    rejection_reason: Mapped[str | None] = mapped_column(String(255), default=None)
    cancel_time: Mapped[datetime | None] = mapped_column(default=None)
    estimated_delivery_time: Mapped[datetime | None] = mapped_column(default=None)
    delivery_status: Mapped[int] = mapped_column(SmallInteger, default=1)
    delivery_time: Mapped[datetime | None] = mapped_column(default=None)
    pack_amount: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    delivery_fee: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    tableware_number: Mapped[int] = mapped_column(Integer, default=0)
    tableware_status: Mapped[int] = mapped_column(SmallInteger, default=1)
    #: When the shop accepted the order (status 3), for the response-time report.
    accepted_at: Mapped[datetime | None] = mapped_column(default=None)
    #: The escalation ladder (domain/escalation.py): the highest step taken
    #: (0 none, 1 consoles warned, 2 people notified), how many
    #: ``order.unaccepted`` notifications went out, and when the ladder looks
    #: at the order next. Set at payment; cleared when the order is no longer
    #: waiting for the shop.
    escalation_level: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    escalation_notified: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    escalation_due_at: Mapped[datetime | None] = mapped_column(default=None)


class OrderDetail(Base):
    """A line of an order, copied from the cart when it was submitted."""

    __tablename__ = "order_detail"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    name: Mapped[str] = mapped_column(String(32))
    image: Mapped[str] = mapped_column(String(255), default="")
    dish_id: Mapped[int | None] = mapped_column(Integer, default=None)
    setmeal_id: Mapped[int | None] = mapped_column(Integer, default=None)
    dish_flavor: Mapped[str | None] = mapped_column(String(50), default=None)
    number: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Money())


_PUSH_DUE = "pushed_at IS NULL AND first_shown_at IS NULL AND handled_at IS NULL"


class AlertRow(Base):
    """The alert log: one row per alert, written with the order change that causes it.

    ``seq`` is gapless and increasing per shop. ``published_at`` stays empty
    until the alert has gone to the broker, so that a relay can find the ones
    a crash left behind.
    """

    __tablename__ = "alert"
    __table_args__ = (
        UniqueConstraint("shop_id", "seq"),
        Index("ix_alert_unpublished", "published_at", "id"),
        Index("ix_alert_order", "order_id", "type"),
        # Only alerts the push sweep may still have to push: a short index.
        Index(
            "ix_alert_push_due",
            "created_at",
            sqlite_where=text(_PUSH_DUE),
            postgresql_where=text(_PUSH_DUE),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[int] = mapped_column(SmallInteger)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), default=None)
    order_number: Mapped[str] = mapped_column(String(50))
    content: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(default=None)
    handled_action: Mapped[str | None] = mapped_column(String(32), default=None)
    handled_by: Mapped[int | None] = mapped_column(Integer, default=None)
    reply: Mapped[str | None] = mapped_column(String(64), default=None)
    # Alerts raised through the publish API are about orders of another
    # system: their id lives here instead of order_id.
    external_order_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    source: Mapped[str] = mapped_column(String(16), default="order", server_default="order")
    published_at: Mapped[datetime | None] = mapped_column(default=None)
    #: When a console first acknowledged showing and ringing the alert
    #: (protocol-2 ``ack`` frames): when a person could first have seen or heard it.
    first_shown_at: Mapped[datetime | None] = mapped_column(default=None)
    first_rung_at: Mapped[datetime | None] = mapped_column(default=None)
    #: When the push sweep dealt with the alert (nobody had shown it in time:
    #: pushed to the shop's subscriptions, if any); never looked at again.
    pushed_at: Mapped[datetime | None] = mapped_column(default=None)


class ApiKey(Base):
    """A shop's key for the publish API; only a hash of it is kept."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class IdempotencyKey(Base):
    """An ``Idempotency-Key`` a publisher sent, and the alert its first call made."""

    __tablename__ = "idempotency_key"
    __table_args__ = (UniqueConstraint("shop_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"))
    key: Mapped[str] = mapped_column(String(128))
    alert_seq: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginCounter(Base):
    """Failed logins counted per account and per client address, in fixed windows.

    ``key`` is a SHA-256 of what is counted (an account's login name or a
    client's address), so that names and addresses typed by strangers are
    not kept in the clear.
    """

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(index=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class ShopEscalation(Base):
    """A shop's own escalation ladder; an empty column takes the deployment's default."""

    __tablename__ = "shop_escalation"

    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"), primary_key=True)
    warn_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    notify_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    notify_repeat_seconds: Mapped[int | None] = mapped_column(Integer, default=None)
    auto_cancel_minutes: Mapped[int | None] = mapped_column(Integer, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEndpoint(Base):
    """Where webhooks go: a URL, the events it takes, and its signing secret.

    ``shop_id`` is empty for an endpoint of the whole deployment, which gets
    the events of every shop. ``failing_since`` is the first failure of the
    current run of failures; an endpoint failing for too long is disabled.
    """

    __tablename__ = "webhook_endpoint"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shop.id"), index=True, default=None)
    url: Mapped[str] = mapped_column(String(2048))
    #: Comma-separated event types.
    events: Mapped[str] = mapped_column(String(512))
    #: ``whsec_`` + base64, as the Standard Webhooks specification writes it.
    secret: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(String(255), default="")
    enabled: Mapped[bool] = mapped_column(default=True)
    failing_since: Mapped[datetime | None] = mapped_column(default=None)
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)
    disabled_reason: Mapped[str | None] = mapped_column(String(255), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(default=None)


class Outgoing(Base):
    """One outgoing side effect (a webhook delivery; later a push or a print job),
    written in the transaction of its cause and carried out after commit by
    the dispatcher (services/dispatcher.py), once across processes.

    ``kind`` names the sender, ``target_id`` what it goes to (a webhook
    endpoint), ``message_id`` is the same on every attempt (the
    ``webhook-id``). ``state`` is ``queued`` until it is ``delivered`` or has
    ``failed`` for good; a queued row is due at ``next_attempt_at``, which a
    claim moves past the attempt's lease, so that a process that dies
    mid-attempt leaves the row to be claimed again.
    """

    __tablename__ = "outgoing"
    __table_args__ = (
        # The dispatcher's claim: queued rows of its kinds by due time. Partial,
        # so that the delivered history never makes a claim slower.
        Index(
            "ix_outgoing_due",
            "kind",
            "next_attempt_at",
            sqlite_where=text("state = 'queued'"),
            postgresql_where=text("state = 'queued'"),
        ),
        # A serial target's (a printer's) rows still open, older than one.
        Index(
            "ix_outgoing_open",
            "kind",
            "target_id",
            "id",
            sqlite_where=text("state IN ('queued', 'sent')"),
            postgresql_where=text("state IN ('queued', 'sent')"),
        ),
        Index("ix_outgoing_shop_time", "shop_id", "created_at"),
        Index("ix_outgoing_target", "kind", "target_id", "created_at"),
        # One row per message and target: an order prints once per printer.
        Index("uq_outgoing_message", "kind", "target_id", "message_id", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[int] = mapped_column(Integer)
    shop_id: Mapped[int | None] = mapped_column(Integer, default=None)
    message_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(10), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    last_status: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(String(255), default=None)


class OutgoingAttempt(Base):
    """One attempt at an outgoing row: when, how long, and what came back."""

    __tablename__ = "outgoing_attempt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    outgoing_id: Mapped[int] = mapped_column(ForeignKey("outgoing.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(String(255), default=None)


class Printer(Base):
    """A receipt printer of a shop: ``escpos-tcp`` (the server writes ESC/POS to
    ``address``, host:port on the shop's network) or ``cloudprnt`` (the printer
    polls the server, authenticated by ``login`` and a secret of which only the
    hash is kept). ``status`` is what the printer last reported (``online``,
    ``offline``, ``paper out``, ``cover open``, ...), ``last_heard_at`` when.
    """

    __tablename__ = "printer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(255), default=None)
    width: Mapped[int] = mapped_column(SmallInteger, default=80)
    enabled: Mapped[bool] = mapped_column(default=True)
    login: Mapped[str | None] = mapped_column(String(32), default=None, unique=True)
    secret_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    mac: Mapped[str | None] = mapped_column(String(32), default=None)
    last_heard_at: Mapped[datetime | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    status_detail: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(default=None)


class PushKey(Base):
    """The deployment's VAPID key pair (RFC 8292): one row, made on first start, kept."""

    __tablename__ = "push_key"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: PEM of the P-256 private key.
    private_pem: Mapped[str] = mapped_column(Text)
    #: The public key as browsers take it: the uncompressed point, base64url.
    public_key: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PushSubscription(Base):
    """A browser's Web Push subscription, of one device of a shop."""

    __tablename__ = "push_subscription"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchant.id"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("shop.id"), index=True)
    device_id: Mapped[str] = mapped_column(String(64))
    endpoint: Mapped[str] = mapped_column(String(2048), unique=True)
    p256dh: Mapped[str] = mapped_column(String(128))
    auth: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_success_at: Mapped[datetime | None] = mapped_column(default=None)
