"""Reading a server's Prometheus text (``GET /metrics``) in tests."""

from __future__ import annotations

import re


def metric(text: str, name: str, labels: str = "") -> float:
    """The value of the sample ``name{labels}`` in ``text``; fails the test when it is missing."""
    found = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.MULTILINE)
    assert found, f"{name}{labels} not in metrics"
    return float(found.group(1))
