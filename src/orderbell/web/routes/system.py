"""The landing page and the health check."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from orderbell import __version__
from orderbell.web.deps import Parts
from orderbell.web.envelope import failure, ok

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
async def readyz(parts: Parts) -> Any:
    """The database and the broker answer (503 when one does not)."""
    checks: dict[str, str] = {}
    for name, ping in (("database", parts.database.ping), ("broker", parts.broker.ping)):
        try:
            await ping()
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"unavailable: {type(exc).__name__}"
    if any(v != "ok" for v in checks.values()):
        return failure(
            503, "Not ready: " + ", ".join(f"{k} {v}" for k, v in checks.items()), checks
        )
    return ok({"status": "ready", **checks})
