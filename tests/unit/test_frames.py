"""Frames: parsing broker messages, and the WebSocket framing built once per alert."""

from __future__ import annotations

import orjson
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode
from websockets.streams import StreamReader

from orderbell.delivery.frames import Frame
from orderbell.protocol import control, server_frame


def parse_wire(wire: bytes) -> WsFrame:
    reader = StreamReader()
    reader.feed_data(wire)
    parser = WsFrame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise AssertionError("incomplete frame")


def test_server_frames_of_every_length_class_parse_back() -> None:
    for size in (0, 125, 126, 65535, 65536):
        payload = b"x" * size
        frame = parse_wire(server_frame(payload))
        assert (frame.opcode, frame.fin, frame.data) == (Opcode.TEXT, True, payload)


def test_alert_and_control_frames_are_told_apart() -> None:
    alert = Frame.parse(
        orjson.dumps({"type": 1, "seq": 7, "createdAt": "2026-01-02T03:04:05.678Z"})
    )
    assert (alert.seq, alert.control) == (7, False)
    assert alert.created is not None and abs(alert.created - 1767323045.678) < 1e-3
    assert parse_wire(alert.wire).data == alert.text.encode()
    handled = Frame.parse(control("handled", alertSeq=7))
    assert (handled.seq, handled.control) == (None, True)
