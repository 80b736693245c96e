"""A recording asyncio transport, for unit tests that drive a protocol by hand."""

from __future__ import annotations

from typing import Any


class RecordingTransport:
    """Keeps what the protocol writes and how it ends the connection.

    ``buffered`` is what ``get_write_buffer_size`` reports (set it to play a
    console that does not read); ``protocol`` is what ``set_protocol`` was
    given (a hand-off to another protocol).
    """

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.buffered = 0
        self.closed = False
        self.aborted = False
        self.reading = True
        self.eof = False
        self.protocol: Any = None

    def write(self, data: bytes) -> None:
        self.written.append(bytes(data))

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    @property
    def ended(self) -> bool:
        """Closed, or half-closed: the protocol sends nothing more."""
        return self.closed or self.eof or self.aborted

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True
