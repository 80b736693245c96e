"""Settings, read from ``ORDERBELL_*`` environment variables (or passed in by tests)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEVELOPMENT_SECRET = "orderbell-development-secret-change-me"
_ORIGIN = re.compile(
    r"^https?://[a-z0-9.\-]+(:[0-9]{1,5})?$|^https?://\[[0-9a-f:.]+\](:[0-9]{1,5})?$"
)


class Settings(BaseSettings):
    """Everything that differs between a laptop and a real deployment.

    Nothing in orderbell reads the environment except this class: the app is
    built by ``create_app(settings)``, so tests build apps with other values.
    """

    model_config = SettingsConfigDict(env_prefix="ORDERBELL_", extra="ignore")

    environment: Literal["development", "production"] = Field(
        "development",
        description="In production the development secret is refused.",
    )
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    database_url: str = Field(
        "sqlite+aiosqlite:///./orderbell.db",
        description="SQLAlchemy URL: sqlite+aiosqlite:///path or postgresql+asyncpg://...",
    )
    broker_url: str = Field(
        "memory://", description="memory:// (one process) or redis://... / rediss://... (several)"
    )
    broker_channel_prefix: str = Field(
        "orderbell",
        min_length=1,
        pattern=r"^\S+$",
        description="First part of the Redis channel names; keeps deployments on one Redis apart.",
    )
    broker_health_check_seconds: float = Field(
        5.0, gt=0, description="How often the Redis subscriber connection is pinged."
    )
    broker_timeout_seconds: float = Field(
        3.0,
        gt=0,
        description="Seconds to connect to Redis, to publish, and for a ping to be answered.",
    )
    broker_reconnect_max_seconds: float = Field(
        10.0, gt=0, description="Longest wait between attempts to reconnect to Redis."
    )
    database_pool_size: int = Field(
        10, ge=1, description="PostgreSQL connections each process keeps open."
    )
    database_max_overflow: int = Field(
        10, ge=0, description="PostgreSQL connections a process may open beyond the pool in bursts."
    )
    workers: int = Field(
        1, ge=1, description="Server processes `orderbell serve` starts on one port."
    )
    secret_key: str = Field(
        DEVELOPMENT_SECRET,
        # HS256 wants a key of at least 256 bits (RFC 7518, 3.2).
        min_length=32,
        description="Signs tokens: a random string of at least 32 characters.",
    )
    token_ttl_minutes: int = Field(12 * 60, ge=1, description="Lifetime of login tokens.")
    auto_pay: bool = Field(False, description="Mark orders paid on submit, as the seed does.")
    timezone: str = Field("Asia/Shanghai", description="Zone in which times are shown.")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    log_format: Literal["text", "json"] = Field(
        "text", description="json: one JSON object per line."
    )

    heartbeat_seconds: float = Field(
        20.0, gt=0, description="How often consoles are pinged (and protocol 2 gets a ping frame)."
    )
    heartbeat_timeout_seconds: float = Field(
        20.0, gt=0, description="A console that does not answer a ping within this is closed."
    )
    unattended_pause_seconds: float = Field(
        300.0,
        ge=0,
        description=(
            "An open shop with no device online this long is paused until one is back "
            "(0: never paused)."
        ),
    )
    unattended_check_seconds: float = Field(
        3.0,
        gt=0,
        le=60,
        description="How often shops nobody listens to are looked for (and paused ones resumed).",
    )
    presence_debounce_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Shortest time between two presence frames of one shop (bursts are merged).",
    )
    console_buffer_bytes: int = Field(
        1 << 20,
        ge=1024,
        description="Outgoing bytes a console may fall behind before it is cut off.",
    )
    socket_send_buffer_bytes: int = Field(
        256 * 1024,
        ge=0,
        description="Kernel send buffer of each connection (0: the kernel's autotuning).",
    )
    replay_max_alerts: int = Field(
        1000, ge=1, description="Alerts a resuming console gets at most."
    )
    replay_max_age_hours: float = Field(24.0, gt=0, description="How old a replayed alert may be.")
    relay_interval_seconds: float = Field(
        5.0, gt=0, description="How often unpublished alerts are looked for and published."
    )
    publish_backlog_max: int = Field(
        10_000,
        ge=1,
        description=(
            "Committed alerts waiting to be published in the background at most; "
            "beyond that they are left to the relay."
        ),
    )
    broker_outage_report_seconds: float = Field(
        60.0,
        gt=0,
        description="While the broker is down, how often a log line counts the alerts waiting.",
    )
    scheduled_tasks: bool = Field(
        True, description="Run the order sweeps below in this process (safe in every process)."
    )
    payment_timeout_minutes: float = Field(
        15.0, gt=0, description="An order still unpaid this long after it was placed is cancelled."
    )
    payment_timeout_check_seconds: float = Field(
        60.0, gt=0, description="How often unpaid orders are looked for."
    )
    delivery_timeout_minutes: float = Field(
        180.0,
        gt=0,
        description="An order still out for delivery this long after it was paid is completed.",
    )
    delivery_timeout_check_seconds: float = Field(
        600.0, gt=0, description="How often orders left out for delivery are looked for."
    )

    escalation_warn_seconds: float = Field(
        60.0,
        gt=0,
        description="An order nobody accepts this long after payment makes consoles ring louder.",
    )
    escalation_notify_seconds: float = Field(
        180.0,
        gt=0,
        description="An order nobody accepts this long after payment sends `order.unaccepted`.",
    )
    escalation_notify_repeat_seconds: float = Field(
        300.0, gt=0, description="`order.unaccepted` is sent again this often until it is handled."
    )
    escalation_auto_cancel_minutes: float = Field(
        15.0,
        ge=0,
        description="An order nobody accepts this long after payment is cancelled (0: never).",
    )
    escalation_check_seconds: float = Field(
        1.0, gt=0, le=60, description="How often orders due for an escalation step are looked for."
    )

    reminder_delay_seconds: float = Field(
        0.0, ge=0, description="How long after payment a customer may first remind the shop."
    )
    reminder_interval_seconds: float = Field(
        300.0, ge=0, description="The least time between two reminders of one order."
    )
    reminder_max_per_order: int = Field(
        3, ge=1, description="How many reminders one order may raise in all."
    )
    login_max_failures_per_account: int = Field(
        5, ge=1, description="Failed logins of one account, within the window, before a pause."
    )
    login_max_failures_per_address: int = Field(
        30, ge=1, description="Failed logins from one client address, within the window."
    )
    login_failure_window_seconds: float = Field(
        900.0, gt=0, description="The window in which failed logins are counted."
    )
    allowed_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Other web origins (scheme://host[:port], comma-separated) whose pages may call "
            "the API (CORS) and open consoles; the server's own origin is always allowed."
        ),
    )
    max_consoles_per_shop: int = Field(
        50, ge=1, description="Consoles of one shop a server process accepts at once."
    )
    max_request_bytes: int = Field(
        64 * 1024, ge=1024, description="Largest HTTP request body accepted (larger: 413)."
    )
    webhook_allow_private: bool = Field(
        False,
        description=(
            "Let webhook endpoints be on loopback, private, link-local or reserved addresses "
            "(tests, a private network you trust); otherwise such URLs are refused."
        ),
    )
    webhook_timeout_seconds: float = Field(
        5.0, gt=0, le=60, description="Seconds one webhook attempt may take in all."
    )
    webhook_retry_scale: float = Field(
        1.0,
        gt=0,
        description=(
            "Multiplies every delay between webhook retries (3 s, 20 s, 1 min, 5 min, ... 1 h); "
            "below 1 only to test the schedule quickly."
        ),
    )
    webhook_give_up_hours: float = Field(
        24.0, gt=0, description="A webhook delivery is retried for this long after its event."
    )
    webhook_disable_after_hours: float = Field(
        24.0,
        gt=0,
        description="An endpoint whose deliveries fail without a success this long is disabled.",
    )
    webhook_max_in_flight: int = Field(
        128, ge=1, description="Webhook attempts a server process makes at once at most."
    )
    webhook_max_in_flight_per_endpoint: int = Field(
        16, ge=1, description="Webhook attempts a server process makes to one endpoint at once."
    )
    webhook_poll_seconds: float = Field(
        1.0,
        gt=0,
        le=60,
        description=(
            "How often due deliveries are looked for besides right after a commit "
            "(retries, and rows written by other processes)."
        ),
    )
    webhook_lease_seconds: float = Field(
        60.0,
        gt=0,
        description=(
            "A delivery claimed by a process that dies mid-attempt is attempted again after "
            "this; keep it well above the timeout."
        ),
    )
    push_after_seconds: float = Field(
        10.0,
        gt=0,
        description=(
            "An alert no visible console has shown this long after it was raised is sent "
            "as a Web Push notification to the shop's subscribed devices."
        ),
    )
    push_check_seconds: float = Field(
        1.0, gt=0, le=60, description="How often alerts due for a push are looked for."
    )
    push_ttl_seconds: int = Field(
        600,
        ge=0,
        description=(
            "How long the push service keeps a notification for a device that is offline "
            "(its TTL); an undelivered push older than this is given up."
        ),
    )
    push_contact: str = Field(
        "mailto:push@orderbell.invalid",
        pattern=r"^(mailto:\S+@\S+|https://\S+)$",
        description="Who runs this deployment (mailto: or https:), sent to push services (VAPID sub).",
    )
    push_allow_private: bool = Field(
        False,
        description=(
            "Let push subscriptions name http:// or loopback/private push services (tests); "
            "otherwise only https:// on public addresses."
        ),
    )

    printer_timeout_seconds: float = Field(
        5.0, gt=0, le=60, description="Seconds one attempt to print on an ESC/POS printer may take."
    )
    printer_status_timeout_seconds: float = Field(
        0.5,
        gt=0,
        le=10,
        description="Seconds to wait for an ESC/POS printer's answer to a status query.",
    )
    printer_retry_scale: float = Field(
        1.0,
        gt=0,
        description=(
            "Multiplies every delay between print retries (2 s, 5 s, 10 s, 30 s, 1 min, ... "
            "5 min); below 1 only to test the schedule quickly."
        ),
    )
    printer_give_up_hours: float = Field(
        6.0, gt=0, description="A print job is retried for this long after the order was accepted."
    )
    printer_check_seconds: float = Field(
        30.0,
        ge=0,
        description=(
            "How often idle ESC/POS printers are asked how they are (online, paper); 0 never."
        ),
    )
    printer_offline_after_seconds: float = Field(
        90.0,
        gt=0,
        description=(
            "A printer not heard from for this long is offline (a warning on the consoles; "
            "it no longer counts as listening)."
        ),
    )

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        # "https://a.example, https://b.example" from the environment, or a list.
        if isinstance(value, str):
            value = [part for part in value.replace(" ", ",").split(",") if part]
        if not isinstance(value, list):
            return value
        origins = []
        for item in value:
            origin = str(item).strip().rstrip("/").lower()
            if not _ORIGIN.match(origin):
                raise ValueError(
                    f"{item!r} is not an origin: write scheme://host[:port], "
                    "for example https://shop.example.com"
                )
            origins.append(origin)
        return origins

    @model_validator(mode="after")
    def _refuse_development_secret(self) -> Settings:
        if self.environment == "production" and self.secret_key == DEVELOPMENT_SECRET:
            raise ValueError(
                "ORDERBELL_SECRET_KEY must be set to a secret of your own in production"
            )
        return self
