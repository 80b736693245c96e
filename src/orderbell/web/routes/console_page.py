"""The merchant console page: ``/console`` and its files, served by orderbell itself.

The page is plain ES modules and CSS from ``web/static/console/`` with no
build step and nothing fetched from elsewhere at run time. Only the files
found in that folder when the module loads are served, by name, so a request
can never reach outside it.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, RedirectResponse, Response

router = APIRouter(tags=["console page"], include_in_schema=False)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static" / "console"
PAGE = STATIC_DIR / "index.html"

_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webmanifest": "application/manifest+json",
}
_ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*\.(?:js|css|svg|png|webmanifest)$")

# The page runs only its own scripts and styles and talks only to its own
# origin (HTTP and WebSocket): order text shown by mistake as markup could
# still not run anything.
_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; manifest-src 'self'; worker-src 'self'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Modules change with releases; revalidate (cheap, ETag) rather than run stale code.
    "Cache-Control": "no-cache",
}
_ASSET_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


def _assets(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.name: p for p in folder.iterdir() if p.is_file() and _ASSET_NAME.match(p.name)}


ASSETS = _assets(STATIC_DIR)

# --- installable app: the service worker -----------------------------------
# The manifest is one of the page's files (``assets/manifest.webmanifest``). The worker is served at
# ``/console/sw.js`` and may take the scope ``/console`` (the page itself,
# ``Service-Worker-Allowed``, relative so that a proxy's path prefix works),
# with the list of files to keep for offline use and a version that changes
# whenever a file does, so a release replaces the old cache.
WORKER = STATIC_DIR / "sw.js"


def _worker_source() -> bytes:
    if not WORKER.is_file():
        return b""
    digest = hashlib.sha256()
    for name in sorted(ASSETS):
        digest.update(name.encode() + b"\0" + ASSETS[name].read_bytes())
    digest.update(PAGE.read_bytes())
    text = WORKER.read_text("utf-8")
    files = sorted(name for name in ASSETS if name != WORKER.name)
    text = text.replace('"__ASSETS__"', json.dumps(files))
    text = text.replace("__VERSION__", digest.hexdigest()[:16])
    return text.encode("utf-8")


_WORKER_SOURCE = _worker_source()
_WORKER_HEADERS = {
    **_ASSET_HEADERS,
    "Service-Worker-Allowed": "../console",
    "Content-Security-Policy": "default-src 'self'",
}


@router.get("/")
async def root() -> RedirectResponse:
    """The console is the page people open."""
    # Relative, so that the redirect also works behind a proxy that adds a path prefix.
    return RedirectResponse("console", status_code=307)


@router.get("/console")
async def console_page() -> FileResponse:
    """The merchant console."""
    return FileResponse(PAGE, media_type="text/html; charset=utf-8", headers=_PAGE_HEADERS)


@router.get("/console/assets/{name}")
async def console_asset(name: str) -> FileResponse:
    """A script, style sheet or icon of the console page."""
    path = ASSETS.get(name)
    if path is None:
        raise HTTPException(404, "No such file.")
    return FileResponse(path, media_type=_MEDIA_TYPES[path.suffix], headers=_ASSET_HEADERS)


@router.get("/console/sw.js")
async def console_worker() -> Response:
    """The console's service worker (offline page, Web Push notifications)."""
    return Response(
        _WORKER_SOURCE, media_type="text/javascript; charset=utf-8", headers=_WORKER_HEADERS
    )
