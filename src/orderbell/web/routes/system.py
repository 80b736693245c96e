"""The landing page and the health check."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from orderbell import __version__
from orderbell.web.deps import Parts
from orderbell.web.envelope import ok

router = APIRouter(tags=["system"])


@router.get("/healthz")
async def healthz() -> dict[str, Any]:
    """The process is alive."""
    return ok({"status": "ok", "version": __version__})


@router.get("/metrics", include_in_schema=False)
async def metrics(parts: Parts) -> Response:
    """Prometheus metrics of this process."""
    return Response(parts.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/readyz")
async def readyz(parts: Parts) -> dict[str, Any]:
    """The database and the broker answer."""
    await parts.database.ping()
    await parts.broker.ping()
    return ok({"status": "ready"})
