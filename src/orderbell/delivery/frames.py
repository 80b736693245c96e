"""Frames: alerts encoded once, as the JSON text every console of a shop receives."""

from __future__ import annotations

import orjson

from orderbell.domain.alerts import Alert


def encode_alert(alert: Alert) -> bytes:
    """The alert frame as UTF-8 JSON bytes (see ``Alert.frame`` for the fields)."""
    return orjson.dumps(alert.frame())
