"""The sequencer: every seq once, in order, whatever order the frames come in."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from orderbell.delivery.frames import Frame
from orderbell.delivery.sequencer import Sequencer


def frame(seq: int) -> Frame:
    return Frame.of(b"{}", seq)


def test_frames_before_start_wait_and_old_ones_are_dropped() -> None:
    s = Sequencer()
    assert s.push(frame(5)) == []
    assert s.push(frame(3)) == []
    assert [f.seq for f in s.start(4)] == []
    assert s.missing() == (4, 4)
    assert [f.seq for f in s.push(frame(4))] == [4, 5]
    assert not s.waiting


def test_skip_gives_up_on_a_gap() -> None:
    s = Sequencer()
    s.start(1)
    s.push(frame(3))
    s.push(frame(4))
    assert [f.seq for f in s.skip()] == [3, 4]
    assert s.next_seq == 5
    assert s.push(frame(2)) == []


@given(st.integers(1, 60), st.integers(0, 2**32), st.integers(0, 20))
def test_any_arrival_order_with_duplicates_comes_out_in_order_once(
    count: int, seed: int, duplicates: int
) -> None:
    rng = random.Random(seed)
    arrivals = list(range(1, count + 1)) + [rng.randint(1, count) for _ in range(duplicates)]
    rng.shuffle(arrivals)
    s = Sequencer()
    s.start(1)
    out: list[int | None] = []
    for seq in arrivals:
        out.extend(f.seq for f in s.push(frame(seq)))
    assert out == list(range(1, count + 1))
    assert not s.waiting
