"""When an outgoing message that failed is tried again, and when it is given up.

The delays grow and are jittered (so that the messages of an endpoint that
was down for a while do not all come back in one burst): the first retry
comes within 10 seconds and the third attempt within a minute of the
first, because a phone call about an order must not wait out a short blip;
then the delays grow to an hour, and a message is given up once its next
attempt would fall more than ``give_up_after`` after it was created.
``scale`` shrinks every delay (tests run the schedule in seconds).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

#: Seconds before the 2nd, 3rd, ... attempt (the last one repeats).
DELAYS: tuple[float, ...] = (5.0, 20.0, 60.0, 300.0, 900.0, 1800.0, 3600.0)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait before each retry, and when to stop.

    Args:
        delays: seconds before the 2nd, 3rd, ... attempt; the last one repeats.
        jitter: each delay is drawn from ``delay * (1 ± jitter)``.
        scale: every delay is multiplied by this (1 in production).
        give_up_after: no attempt is made later than this after the message was created.
    """

    delays: tuple[float, ...] = DELAYS
    jitter: float = 0.2
    scale: float = 1.0
    give_up_after: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if not self.delays or any(d <= 0 for d in self.delays):
            raise ValueError("delays must be a non-empty list of positive seconds")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be at least 0 and below 1")
        if self.scale <= 0:
            raise ValueError("scale must be positive")

    def delay(self, attempts: int, draw: float) -> timedelta:
        """The wait after the ``attempts``-th attempt failed (``attempts`` >= 1).

        ``draw`` is a number in [0, 1) (``random.random()``) that picks the jitter.
        """
        base = self.delays[min(max(attempts, 1), len(self.delays)) - 1]
        factor = 1 + self.jitter * (2 * draw - 1)
        return timedelta(seconds=base * factor * self.scale)

    def next_attempt(
        self, *, created_at: datetime, attempts: int, now: datetime, draw: float | None = None
    ) -> datetime | None:
        """When to try again after ``attempts`` failed attempts, or None to give up."""
        when = now + self.delay(attempts, random.random() if draw is None else draw)
        if when > created_at + self.give_up_after:
            return None
        return when
