"""The hub: one per server process; knows which consoles of which shop are here.

A frame arrives from the broker once per process. The hub parses it once,
puts alert frames in seq order (``Sequencer``), and offers the same frame
object to every console of the shop; offering never awaits, so one slow
console cannot hold the others back. Gaps in a shop's seqs are filled from
the alert log, which is the source of truth; the broker only carries news.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Protocol

from orderbell.broker import Broker
from orderbell.delivery.consoles import Console
from orderbell.delivery.frames import Frame
from orderbell.delivery.sequencer import Sequencer
from orderbell.protocol import control, now_iso

log = logging.getLogger(__name__)


class AlertSource(Protocol):
    """Where the hub reads the alert log to start a shop's stream and fill gaps."""

    async def latest_seq(self, shop_id: int) -> int:
        """The seq of the shop's newest alert (0 if none)."""
        ...

    async def frames(self, shop_id: int, first: int, last: int) -> Sequence[Frame]:
        """The shop's alert frames with seq in ``first..last``, in order."""
        ...


class Hub:
    """Fan-out of a shop's frames to that shop's consoles in this process.

    Args:
        broker: where frames come from; the hub subscribes to a shop while it
            has a console of that shop.
        source: the alert log, to start streams and fill gaps.
        gap_wait: seconds to wait for a missing seq to arrive by itself
            before reading it from the log.
    """

    def __init__(self, broker: Broker, source: AlertSource, *, gap_wait: float = 0.3) -> None:
        self._broker = broker
        self._source = source
        self._gap_wait = gap_wait
        self._consoles: defaultdict[int, set[Console]] = defaultdict(set)
        self._streams: dict[int, Sequencer] = {}
        self._filling: set[int] = set()
        #: One lock per shop whose subscription is being changed, with how
        #: many joins and leaves hold or await it (dropped at zero).
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.delivered = 0
        #: Called once per alert frame handed to this process's consoles (metrics).
        self.on_fan_out: Callable[[Frame], None] | None = None
        #: Called once per heartbeat round, after the pings went out (presence).
        self.on_beat: Callable[[], None] | None = None
        broker.attach(self.deliver)

    def count(self, shop_id: int | None = None) -> int:
        """How many consoles are connected here (of one shop, or of all)."""
        if shop_id is not None:
            return len(self._consoles.get(shop_id, ()))
        return sum(len(c) for c in self._consoles.values())

    async def join(self, console: Console) -> None:
        """Start delivering the frames of the console's shop to it."""
        self._consoles[console.shop_id].add(console)
        await self._sync_subscription(console.shop_id)

    def replace(self, old: Console, new: Console) -> bool:
        """Deliver to ``new`` instead of ``old`` (same shop) from the next frame on.

        Returns False, adding nothing, when ``old`` is not here any more.
        """
        consoles = self._consoles.get(old.shop_id)
        if consoles is None or old not in consoles:
            return False
        consoles.discard(old)
        consoles.add(new)
        return True

    async def leave(self, console: Console) -> None:
        """Stop delivering to the console (it closed or was cut off)."""
        self._forget(console)
        await self._sync_subscription(console.shop_id)

    def deliver(self, shop_id: int, payload: bytes) -> None:
        """Take one broker message: control frames go out at once, alert frames in seq order."""
        try:
            frame = Frame.parse(payload)
        except ValueError:
            log.warning("dropping a malformed frame for shop %s", shop_id)
            return
        if frame.control:
            self._fan_out(shop_id, [frame])
            return
        stream = self._streams.get(shop_id)
        if stream is None:
            return
        self._fan_out(shop_id, stream.push(frame))
        if stream.waiting and stream.next_seq is not None:
            self._schedule_fill(shop_id, self._gap_wait)

    def broadcast(self, payload: bytes) -> None:
        """Offer one control frame to every console here (heartbeats)."""
        frame = Frame.of(payload)
        for shop_id in list(self._consoles):
            self._fan_out(shop_id, [frame])

    async def heartbeat(self, interval: float) -> None:
        """Send a ``ping`` control frame to every console each ``interval`` seconds, forever
        (and call ``on_beat`` after each round)."""
        while True:
            await asyncio.sleep(interval)
            self.broadcast(control("ping", time=now_iso()))
            if self.on_beat is not None:
                try:
                    self.on_beat()
                except Exception:
                    log.exception("a heartbeat hook failed")

    async def catch_up(self) -> None:
        """Read from the log whatever the subscribed shops' streams may have missed
        (after the broker lost messages, for example while reconnecting)."""
        for shop_id, stream in list(self._streams.items()):
            if stream.next_seq is None:
                continue
            try:
                latest = await self._source.latest_seq(shop_id)
            except Exception:
                log.exception("catching up shop %s failed", shop_id)
                continue
            if latest >= stream.next_seq:
                await self._fill(shop_id, stream.next_seq, latest)

    async def close(self) -> None:
        """Stop background work."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _fan_out(self, shop_id: int, frames: list[Frame]) -> None:
        consoles = self._consoles.get(shop_id)
        if not consoles or not frames:
            return
        dead: list[Console] = []
        for frame in frames:
            for console in consoles:
                if not console.offer(frame):
                    dead.append(console)
            if frame.seq is not None:
                self.delivered += len(consoles)
                if self.on_fan_out is not None:
                    self.on_fan_out(frame)
        for console in dead:
            self._forget(console)
        if dead and not self._consoles.get(shop_id):
            self._spawn(self._sync_subscription(shop_id))

    def _forget(self, console: Console) -> None:
        consoles = self._consoles.get(console.shop_id)
        if consoles is not None:
            consoles.discard(console)
            if not consoles:
                del self._consoles[console.shop_id]

    def _spawn(self, work: object) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _schedule_fill(self, shop_id: int, delay: float) -> None:
        if shop_id in self._filling:
            return
        self._filling.add(shop_id)
        self._spawn(self._fill_gap_later(shop_id, delay))

    async def _fill_gap_later(self, shop_id: int, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
            attempt = 0
            while attempt < 3:
                stream = self._streams.get(shop_id)
                gap = stream.missing() if stream else None
                if stream is None or gap is None:
                    return
                before = stream.next_seq
                try:
                    await self._fill(shop_id, *gap)
                except Exception:
                    log.exception("filling seqs %s of shop %s from the log failed", gap, shop_id)
                    await asyncio.sleep(delay * (attempt + 1))
                    attempt += 1
                    continue
                # A fill that moved the stream on uses no attempt: frames can
                # wait behind several gaps, and each gets its own tries.
                if stream.next_seq == before:
                    attempt += 1
            stream = self._streams.get(shop_id)
            if stream is not None and stream.missing() is not None:
                log.warning("shop %s: giving up on seqs %s", shop_id, stream.missing())
                self._fan_out(shop_id, stream.skip())
        finally:
            self._filling.discard(shop_id)
            stream = self._streams.get(shop_id)
            if stream is not None and stream.waiting:
                self._schedule_fill(shop_id, self._gap_wait)

    async def _fill(self, shop_id: int, first: int, last: int) -> None:
        frames = await self._source.frames(shop_id, first, last)
        stream = self._streams.get(shop_id)
        if stream is None:
            return
        for frame in frames:
            self._fan_out(shop_id, stream.push(frame))

    async def _sync_subscription(self, shop_id: int) -> None:
        # Serialized per shop, and re-checked under the shop's lock, so that a
        # join racing a leave always ends with the broker subscription matching
        # the set. Different shops do not wait for each other: a burst of
        # consoles reconnecting after a restart subscribes in parallel.
        lock, users = self._locks.get(shop_id) or (asyncio.Lock(), 0)
        self._locks[shop_id] = (lock, users + 1)
        try:
            async with lock:
                await self._sync_subscription_locked(shop_id)
        finally:
            lock, users = self._locks[shop_id]
            if users == 1:
                del self._locks[shop_id]
            else:
                self._locks[shop_id] = (lock, users - 1)

    async def _sync_subscription_locked(self, shop_id: int) -> None:
        wanted = bool(self._consoles.get(shop_id))
        if wanted and shop_id not in self._streams:
            stream = self._streams[shop_id] = Sequencer()
            try:
                await self._broker.subscribe(shop_id)
                # Subscribed first, then read: anything committed after
                # this read arrives through the broker or a gap fill.
                latest = await self._source.latest_seq(shop_id)
            except Exception:
                del self._streams[shop_id]
                raise
            self._fan_out(shop_id, stream.start(latest + 1))
        elif not wanted and shop_id in self._streams:
            del self._streams[shop_id]
            await self._broker.unsubscribe(shop_id)
