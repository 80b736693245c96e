"""The hub's fan-out over the in-process broker, with consoles that record frames."""

from __future__ import annotations

from dataclasses import dataclass, field

from orderbell.broker.memory import MemoryBroker
from orderbell.delivery.hub import Hub


@dataclass(eq=False)
class RecordingConsole:
    shop_id: int
    alive: bool = True
    frames: list[str] = field(default_factory=list)

    def offer(self, frame: str) -> bool:
        if not self.alive:
            return False
        self.frames.append(frame)
        return True


async def test_frames_reach_only_consoles_of_their_shop() -> None:
    broker = MemoryBroker()
    hub = Hub(broker)
    a1, a2, b = RecordingConsole(1), RecordingConsole(1), RecordingConsole(2)
    for c in (a1, a2, b):
        await hub.join(c)
    await broker.publish(1, b'{"type":1}')
    await broker.publish(2, b'{"type":2}')
    assert a1.frames == a2.frames == ['{"type":1}']
    assert b.frames == ['{"type":2}']


async def test_dead_console_is_dropped_without_affecting_others() -> None:
    broker = MemoryBroker()
    hub = Hub(broker)
    dead, live = RecordingConsole(1, alive=False), RecordingConsole(1)
    await hub.join(dead)
    await hub.join(live)
    await broker.publish(1, b"x")
    await broker.publish(1, b"y")
    assert live.frames == ["x", "y"]
    assert hub.count(1) == 1


async def test_broker_subscription_follows_the_consoles() -> None:
    broker = MemoryBroker()
    hub = Hub(broker)
    console = RecordingConsole(5)
    await hub.join(console)
    await hub.leave(console)
    await broker.publish(5, b"lost")
    assert console.frames == []
    assert hub.count() == 0
    await hub.join(console)
    await broker.publish(5, b"seen")
    assert console.frames == ["seen"]
