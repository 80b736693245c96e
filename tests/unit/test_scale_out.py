"""The Redis broker's pure parts: backoff, channel names, URL checks, choosing by URL."""

from __future__ import annotations

import sys

import pytest

from orderbell.broker import create_broker
from orderbell.broker.memory import MemoryBroker
from orderbell.broker.redis import (
    Backoff,
    RedisBroker,
    channel_name,
    safe_url,
    shop_of_channel,
)


def test_backoff_doubles_up_to_its_cap_without_jitter() -> None:
    backoff = Backoff(initial=0.1, cap=2.0, jitter=0.0)
    assert [backoff.delay(n) for n in range(7)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    )


def test_backoff_jitter_only_shortens_and_stays_within_its_share() -> None:
    highest = Backoff(initial=1.0, cap=8.0, jitter=0.5, random=lambda: 0.0)
    lowest = Backoff(initial=1.0, cap=8.0, jitter=0.5, random=lambda: 1.0)
    assert [highest.delay(n) for n in range(5)] == pytest.approx([1, 2, 4, 8, 8])
    assert [lowest.delay(n) for n in range(5)] == pytest.approx([0.5, 1, 2, 4, 4])


def test_backoff_after_days_of_failures_is_still_the_cap() -> None:
    backoff = Backoff(initial=0.1, cap=10.0, jitter=0.0)
    assert backoff.delay(10**6) == 10.0
    assert backoff.delay(-3) == pytest.approx(0.1)


@pytest.mark.parametrize(
    "options", [{"initial": 0.0}, {"initial": 5.0, "cap": 1.0}, {"jitter": 1.5}]
)
def test_backoff_refuses_nonsense(options: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**options)


def test_channel_names_round_trip_and_foreign_channels_are_ignored() -> None:
    assert channel_name("orderbell", 42) == "orderbell:shop:42"
    assert shop_of_channel("orderbell", b"orderbell:shop:42") == 42
    assert shop_of_channel("orderbell", "orderbell:shop:7") == 7
    assert shop_of_channel("orderbell", b"orderbell2:shop:42") is None
    assert shop_of_channel("orderbell", b"other:shop:42") is None
    assert shop_of_channel("orderbell", b"orderbell:shop:x") is None
    assert shop_of_channel("orderbell", b"orderbell:shop:") is None


def test_log_lines_do_not_show_the_redis_password() -> None:
    assert safe_url("redis://:hunter22@cache:6380/1") == "redis://:***@cache:6380/1"
    assert safe_url("rediss://app:hunter22@cache/0") == "rediss://app:***@cache/0"
    assert safe_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_the_url_scheme_picks_the_broker() -> None:
    assert isinstance(create_broker("memory://"), MemoryBroker)
    broker = create_broker("redis://127.0.0.1:6379/0", channel_prefix="t1")
    assert isinstance(broker, RedisBroker)
    assert broker.channel_prefix == "t1"
    assert isinstance(create_broker("rediss://cache.example:6380/0"), RedisBroker)
    with pytest.raises(ValueError, match="memory://, redis:// or rediss://"):
        create_broker("kafka://somewhere")


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("http://127.0.0.1:6379", {}),
        ("redis://127.0.0.1", {"channel_prefix": ""}),
        ("redis://127.0.0.1", {"channel_prefix": "two words"}),
        ("redis://127.0.0.1", {"timeout": 0.0}),
        ("redis://127.0.0.1", {"health_check_interval": -1.0}),
    ],
)
def test_the_redis_broker_refuses_bad_options(url: str, options: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        RedisBroker(url, **options)  # type: ignore[arg-type]


def test_a_missing_redis_client_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    # As if redis-py were not installed: the import fails, and the message
    # names the package instead of leaving a bare ModuleNotFoundError.
    for name in [m for m in sys.modules if m == "redis" or m.startswith("redis.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.delitem(sys.modules, "orderbell.broker.redis", raising=False)
    with pytest.raises(ImportError, match=r"pip install 'redis>=5'"):
        create_broker("redis://127.0.0.1:6379/0")
    # The embedded default never needs it.
    assert isinstance(create_broker("memory://"), MemoryBroker)


async def test_publishing_before_connect_is_a_clear_error() -> None:
    broker = RedisBroker("redis://127.0.0.1:6379/0")
    with pytest.raises(RuntimeError, match="not connected"):
        await broker.publish(1, b"{}")


def test_a_missing_database_driver_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from orderbell.storage.database import Database

    monkeypatch.setitem(sys.modules, "asyncpg", None)
    with pytest.raises(ImportError, match="pip install asyncpg"):
        Database("postgresql+asyncpg://postgres@127.0.0.1/test")


def test_serve_hands_its_options_to_worker_processes_through_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from orderbell.cli import export_settings
    from orderbell.settings import Settings

    environ: dict[str, str] = {}
    export_settings(
        {
            "host": None,
            "port": 9000,
            "database_url": "postgresql+asyncpg://app@db/orderbell",
            "broker_url": "redis://cache:6379/0",
            "workers": 3,
        },
        environ,
    )
    assert environ == {
        "ORDERBELL_PORT": "9000",
        "ORDERBELL_DATABASE_URL": "postgresql+asyncpg://app@db/orderbell",
        "ORDERBELL_BROKER_URL": "redis://cache:6379/0",
        "ORDERBELL_WORKERS": "3",
    }
    # What a worker builds from that environment.
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert (settings.port, settings.broker_url, settings.workers) == (
        9000,
        "redis://cache:6379/0",
        3,
    )
    assert settings.database_url == "postgresql+asyncpg://app@db/orderbell"


async def test_a_hub_fills_many_gaps_from_the_log_and_skips_none() -> None:
    # What a process sees when another process's publishes all failed
    # (Redis was down for it) and only its own went out: every other seq is
    # missing live. All of them are in the log and must be filled from it.
    import asyncio
    from collections.abc import Sequence
    from dataclasses import dataclass, field

    import orjson

    from orderbell.delivery.frames import Frame
    from orderbell.delivery.hub import Hub

    def alert(seq: int) -> bytes:
        return orjson.dumps({"type": 1, "orderId": seq, "content": "x", "seq": seq, "shopId": 1})

    class Log:
        latest = 0

        async def latest_seq(self, shop_id: int) -> int:
            return self.latest

        async def frames(self, shop_id: int, first: int, last: int) -> Sequence[Frame]:
            return [Frame.of(alert(s), s) for s in range(first, min(last, self.latest) + 1)]

    @dataclass(eq=False)
    class Console:
        shop_id: int = 1
        seqs: list[int | None] = field(default_factory=list)

        def offer(self, frame: Frame) -> bool:
            if not frame.control:
                self.seqs.append(frame.seq)
            return True

    log = Log()
    broker = MemoryBroker()
    hub = Hub(broker, log, gap_wait=0.01)
    console = Console()
    await hub.join(console)
    log.latest = 12
    for seq in range(2, 13, 2):  # 2, 4, ... 12 arrive; 1, 3, ... 11 never do
        await broker.publish(1, alert(seq))
    for _ in range(200):
        if len(console.seqs) == 12:
            break
        await asyncio.sleep(0.01)
    assert console.seqs == list(range(1, 13))
    await hub.close()
