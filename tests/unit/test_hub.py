"""The hub's fan-out and ordering over the in-process broker, with a fake alert log."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from orderbell.broker.memory import MemoryBroker
from orderbell.delivery.frames import Frame
from orderbell.delivery.hub import Hub
from orderbell.protocol import control


def alert(shop_id: int, seq: int) -> bytes:
    return orjson.dumps({"type": 1, "orderId": seq, "content": "x", "seq": seq, "shopId": shop_id})


class FakeLog:
    """An alert log in a dict: shop -> list of seqs that exist."""

    def __init__(self) -> None:
        self.seqs: dict[int, list[int]] = {}

    async def latest_seq(self, shop_id: int) -> int:
        return max(self.seqs.get(shop_id, [0]))

    async def frames(self, shop_id: int, first: int, last: int) -> Sequence[Frame]:
        return [
            Frame.of(alert(shop_id, s), s) for s in self.seqs.get(shop_id, []) if first <= s <= last
        ]


@dataclass(eq=False)
class RecordingConsole:
    shop_id: int
    alive: bool = True
    controls: bool = True
    frames: list[Frame] = field(default_factory=list)

    def offer(self, frame: Frame) -> bool:
        if not self.alive:
            return False
        if frame.control and not self.controls:
            return True
        self.frames.append(frame)
        return True

    @property
    def seqs(self) -> list[int | None]:
        return [f.seq for f in self.frames]


async def test_frames_reach_only_consoles_of_their_shop() -> None:
    broker = MemoryBroker()
    hub = Hub(broker, FakeLog())
    a1, a2, b = RecordingConsole(1), RecordingConsole(1), RecordingConsole(2)
    for c in (a1, a2, b):
        await hub.join(c)
    await broker.publish(1, alert(1, 1))
    await broker.publish(2, alert(2, 1))
    assert a1.frames == a2.frames
    assert a1.frames[0] is a2.frames[0], "one frame object for all consoles of a shop"
    assert [orjson.loads(f.text)["shopId"] for f in a1.frames + b.frames] == [1, 2]


async def test_dead_console_is_dropped_without_affecting_others() -> None:
    broker = MemoryBroker()
    hub = Hub(broker, FakeLog())
    dead, live = RecordingConsole(1, alive=False), RecordingConsole(1)
    await hub.join(dead)
    await hub.join(live)
    await broker.publish(1, alert(1, 1))
    await broker.publish(1, alert(1, 2))
    assert live.seqs == [1, 2]
    assert hub.count(1) == 1


async def test_out_of_order_frames_are_put_back_in_order_and_duplicates_dropped() -> None:
    broker = MemoryBroker()
    hub = Hub(broker, FakeLog(), gap_wait=10)
    console = RecordingConsole(1)
    await hub.join(console)
    for seq in (2, 1, 1, 3, 2, 5, 4):
        await broker.publish(1, alert(1, seq))
    assert console.seqs == [1, 2, 3, 4, 5]


async def test_a_gap_is_filled_from_the_log() -> None:
    broker = MemoryBroker()
    log = FakeLog()
    hub = Hub(broker, log, gap_wait=0.01)
    console = RecordingConsole(1)
    await hub.join(console)
    log.seqs[1] = [1, 2, 3]
    await broker.publish(1, alert(1, 1))
    await broker.publish(1, alert(1, 3))  # 2 was lost on the way
    assert console.seqs == [1]
    await asyncio.sleep(0.1)
    assert console.seqs == [1, 2, 3]


async def test_a_stream_starts_after_the_latest_seq_in_the_log() -> None:
    broker = MemoryBroker()
    log = FakeLog()
    log.seqs[1] = [1, 2, 3]
    hub = Hub(broker, log)
    console = RecordingConsole(1)
    await hub.join(console)
    await broker.publish(1, alert(1, 3))  # a late duplicate of an old alert
    await broker.publish(1, alert(1, 4))
    assert console.seqs == [4]


async def test_control_frames_skip_ordering_and_plain_consoles() -> None:
    broker = MemoryBroker()
    hub = Hub(broker, FakeLog())
    rich, plain = RecordingConsole(1), RecordingConsole(1, controls=False)
    await hub.join(rich)
    await hub.join(plain)
    await broker.publish(1, control("handled", alertSeq=9))
    hub.broadcast(control("ping"))
    assert [orjson.loads(f.text)["type"] for f in rich.frames] == ["handled", "ping"]
    assert plain.frames == []


async def test_catch_up_reads_what_the_broker_lost() -> None:
    broker = MemoryBroker()
    log = FakeLog()
    hub = Hub(broker, log)
    console = RecordingConsole(1)
    await hub.join(console)
    log.seqs[1] = [1, 2]  # committed and published while nobody listened
    await hub.catch_up()
    assert console.seqs == [1, 2]


async def test_broker_subscription_follows_the_consoles() -> None:
    broker = MemoryBroker()
    hub = Hub(broker, FakeLog())
    console = RecordingConsole(5)
    await hub.join(console)
    await hub.leave(console)
    await broker.publish(5, alert(5, 1))
    assert console.frames == []
    assert hub.count() == 0
    await hub.join(console)
    await broker.publish(5, alert(5, 1))
    assert console.seqs == [1]


class SlowLog(FakeLog):
    """A log whose reads for one shop wait until released."""

    def __init__(self, slow_shop: int) -> None:
        super().__init__()
        self.slow_shop = slow_shop
        self.release = asyncio.Event()

    async def latest_seq(self, shop_id: int) -> int:
        if shop_id == self.slow_shop:
            await self.release.wait()
        return await super().latest_seq(shop_id)


async def test_a_slow_join_holds_up_its_own_shop_only() -> None:
    log = SlowLog(slow_shop=1)
    hub = Hub(MemoryBroker(), log)
    slow = asyncio.create_task(hub.join(RecordingConsole(1)))
    await asyncio.sleep(0)
    # Another shop's console joins while shop 1 is still reading its log.
    await asyncio.wait_for(hub.join(RecordingConsole(2)), 1)
    assert not slow.done()
    # A second console of shop 1 waits behind the first (one subscription).
    same = asyncio.create_task(hub.join(RecordingConsole(1)))
    await asyncio.sleep(0.01)
    assert not same.done()
    log.release.set()
    await asyncio.wait_for(asyncio.gather(slow, same), 1)
    assert hub.count(1) == 2 and hub.count(2) == 1
    assert not hub._locks, "no lock is kept for shops nobody is joining or leaving"
