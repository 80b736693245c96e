"""Putting a shop's alert frames back in seq order, once each (pure logic).

Frames can reach a process out of order (two transactions publish after
commit in either order; two processes publish through Redis) or twice (the
relay re-publishes what a crash left unmarked). The sequencer passes each seq
on exactly once, in order, and holds back frames that arrive ahead of a gap
until the gap is filled (from the alert log) or given up on.
"""

from __future__ import annotations

from orderbell.delivery.frames import Frame

MAX_HELD = 10_000


class Sequencer:
    """The in-order, once-only gate for one shop's alert frames."""

    def __init__(self) -> None:
        self.next_seq: int | None = None
        self._held: dict[int, Frame] = {}

    @property
    def waiting(self) -> bool:
        """True while frames are held back behind a gap (or before ``start``)."""
        return bool(self._held)

    def missing(self) -> tuple[int, int] | None:
        """The seqs (first, last) that the held frames wait for, if any."""
        if self.next_seq is None or not self._held:
            return None
        return self.next_seq, min(self._held) - 1

    def start(self, next_seq: int) -> list[Frame]:
        """Begin at ``next_seq``: frames below it are dropped, the rest released in order."""
        self.next_seq = next_seq
        for seq in [s for s in self._held if s < next_seq]:
            del self._held[seq]
        return self._release()

    def push(self, frame: Frame) -> list[Frame]:
        """Accept one alert frame; return the frames now ready, in seq order."""
        seq = frame.seq
        assert seq is not None, "control frames do not pass the sequencer"
        if self.next_seq is not None and seq < self.next_seq:
            return []
        self._held.setdefault(seq, frame)
        if len(self._held) > MAX_HELD:
            return self.skip()
        return self._release() if self.next_seq is not None else []

    def skip(self) -> list[Frame]:
        """Give up on the current gap: release the held frames from the lowest one on."""
        if not self._held:
            return []
        self.next_seq = min(self._held)
        return self._release()

    def _release(self) -> list[Frame]:
        ready: list[Frame] = []
        assert self.next_seq is not None
        while self.next_seq in self._held:
            ready.append(self._held.pop(self.next_seq))
            self.next_seq += 1
        return ready
