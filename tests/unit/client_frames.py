"""Client frames, now in ``tests.support.frames``; kept for the tests that import them here."""

from tests.support.frames import masked

__all__ = ["masked"]
