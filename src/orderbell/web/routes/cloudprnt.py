"""The URL a Star CloudPRNT printer polls (``/cloudprnt``): POST its status, GET its
job, DELETE to confirm it (``services.printing.cloudprnt``). Each request carries
the printer's login and secret as HTTP Basic credentials."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response

from orderbell.domain.errors import BusinessError
from orderbell.services.printing import cloudprnt, printers
from orderbell.storage.tables import Printer
from orderbell.web.deps import Parts
from orderbell.web.envelope import failure

router = APIRouter(tags=["printing"])

REALM = 'Basic realm="orderbell CloudPRNT", charset="UTF-8"'
Param = Annotated[str | None, Query(max_length=200)]


class _Refused(Exception):
    pass


async def _printer(request: Request, parts: Any) -> Printer:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise _Refused
    try:
        login, sep, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise _Refused from exc
    if not sep or len(login) > 32 or len(secret) > 128:
        raise _Refused
    printer = await printers.by_login(parts.database, login, secret)
    if printer is None:
        raise _Refused
    return printer


def _refused() -> Response:
    return failure(
        401,
        "The printer's login or secret is wrong.",
        headers={"WWW-Authenticate": REALM},
    )


@router.post("/cloudprnt")
async def poll(request: Request, parts: Parts) -> Any:
    """A printer's poll: its status in, whether a job is ready out (`jobReady`,
    `mediaTypes`, `jobToken`)."""
    try:
        printer = await _printer(request, parts)
    except _Refused:
        return _refused()
    try:
        body = orjson.loads(await request.body() or b"{}")
    except orjson.JSONDecodeError as exc:
        raise BusinessError("The poll must be a JSON object.") from exc
    if not isinstance(body, dict):
        raise BusinessError("The poll must be a JSON object.")
    return await cloudprnt.poll(parts.database, printer, body)


@router.get("/cloudprnt")
async def job(
    request: Request,
    parts: Parts,
    type: Param = None,
    mac: Param = None,
    token: Param = None,
) -> Any:
    """The printer's job, in the media type it asks for (`text/plain`)."""
    try:
        printer = await _printer(request, parts)
    except _Refused:
        return _refused()
    media_type = (type or cloudprnt.MEDIA_TYPES[0]).split(";")[0].strip()
    if media_type not in cloudprnt.MEDIA_TYPES:
        return failure(415, f"Jobs are served as {', '.join(cloudprnt.MEDIA_TYPES)}.")
    found = await cloudprnt.fetch(
        parts.database,
        printer,
        token=token,
        media_type=media_type,
        zone=parts.presenter.zone,
    )
    return Response(
        found.body, media_type=found.media_type, headers={"X-Star-Job-Token": found.token}
    )


@router.delete("/cloudprnt")
async def confirm(
    request: Request,
    parts: Parts,
    code: Param = None,
    mac: Param = None,
    token: Param = None,
) -> Any:
    """The printer's word on its job: a `code` starting with 2 (or `OK`) printed it."""
    try:
        printer = await _printer(request, parts)
    except _Refused:
        return _refused()
    if not code:
        raise BusinessError("code is required: the printer's status code for the job.")
    state = await cloudprnt.confirm(parts.database, printer, token=token, code=code)
    return {"state": "printed" if state == "delivered" else state}
