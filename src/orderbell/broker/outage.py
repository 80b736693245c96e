"""Whether the broker is known to be down, and the few log lines that say so.

While Redis is away every payment would otherwise log a warning of its own.
The outbox reports here instead: the first failure says that the broker
went away, a line every so often counts the alerts waiting for the relay,
and the first success afterwards says that it is back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


def describe(error: BaseException) -> str:
    """``error`` in a few words for a log line (a timeout's own text is empty)."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Outage:
    """The broker's state as the outbox sees it: up, or down since when.

    Args:
        clock: monotonic seconds; tests pass their own.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._since: float | None = None
        self._reported: float | None = None
        #: How many times the broker was found down (for metrics).
        self.outages = 0

    @property
    def down(self) -> bool:
        """True from a failed publish until the broker has taken messages again."""
        return self._since is not None

    def went_down(self, error: BaseException) -> bool:
        """Record a failed publish; the first one of an outage logs one warning.

        Returns whether the broker was thought to be up until now.
        """
        if self._since is not None:
            return False
        self._since = self._clock()
        self._reported = None
        self.outages += 1
        log.warning(
            "the broker is unreachable (%s): payments go on without waiting for it, "
            "their alerts are kept in the log and relayed once it is back",
            describe(error),
        )
        return True

    def report_due(self, interval: float) -> bool:
        """Whether the broker is down and ``interval`` seconds have passed since it went
        down or since the last ``report``."""
        if self._since is None:
            return False
        last = self._since if self._reported is None else self._reported
        return self._clock() - last >= interval

    def report(self, waiting: int) -> None:
        """While down, log how long it has been and how many alerts wait for the relay."""
        if self._since is None:
            return
        self._reported = self._clock()
        log.warning(
            "the broker is still unreachable after %.0f s: %d alerts wait for the relay",
            self._clock() - self._since,
            waiting,
        )

    def came_back(self, relayed: int) -> bool:
        """Record that the broker took messages again; after an outage, log it once.

        Returns whether an outage ended here.
        """
        if self._since is None:
            return False
        log.warning(
            "the broker is back after %.0f s; the relay published %d alerts that waited",
            self._clock() - self._since,
            relayed,
        )
        self._since = None
        return True
