"""The response envelope ``{"code": 1|0, "msg": ..., "data": ...}`` of the original API.

``code`` 1 is success and 0 an error with a message a person can read. Errors
also carry a fitting HTTP status: 400 a shop rule refused the request, 401 no
valid login, 403 a login of the wrong kind, 404 unknown (or someone else's)
id, 409 a clash with existing data, 413 a body too large, 422 malformed
input, 429 too many tries (with ``Retry-After`` when waiting helps), 500 a
fault of ours.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from orderbell.domain.errors import OrderbellError, TooManyRequests

log = logging.getLogger(__name__)

# What FastAPI says when a body cannot even be decoded: bytes that are not
# UTF-8, a number with thousands of digits, nesting deeper than the parser
# goes. For the client that is malformed input like any other bad JSON.
_UNREADABLE_BODY = "There was an error parsing the body"


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


class OrjsonResponse(JSONResponse):
    """JSON through orjson; amounts (Decimal) are written as numbers."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=_default)


def ok(data: Any = None) -> dict[str, Any]:
    """A success envelope around ``data``."""
    return {"code": 1, "msg": None, "data": data}


def failure(
    status: int, message: str, data: Any = None, headers: Mapping[str, str] | None = None
) -> OrjsonResponse:
    """An error envelope with HTTP ``status``."""
    return OrjsonResponse(
        {"code": 0, "msg": message, "data": data}, status_code=status, headers=headers
    )


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


def describe_validation(exc: RequestValidationError) -> tuple[str, list[dict[str, str]]]:
    """A one-line message and per-field details for invalid input."""
    errors = [
        {
            "field": _field(tuple(e.get("loc", ()))),
            "error": str(e.get("msg", "")).removeprefix("Value error, "),
        }
        for e in exc.errors()
    ]
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return "The request body is not valid JSON.", errors
    summary = "; ".join(f"{e['field']}: {e['error']}" for e in errors[:3])
    return f"Invalid input: {summary}", errors


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error, expected or not, in the envelope."""

    @app.exception_handler(OrderbellError)
    async def _orderbell_error(_request: Request, exc: OrderbellError) -> OrjsonResponse:
        headers = None
        if isinstance(exc, TooManyRequests) and exc.retry_after is not None:
            headers = {"Retry-After": str(exc.retry_after)}
        return failure(exc.status_code, exc.message, exc.data, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> OrjsonResponse:
        message, errors = describe_validation(exc)
        return failure(422, message, {"errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> OrjsonResponse:
        if exc.status_code == 400 and exc.detail == _UNREADABLE_BODY:
            return failure(
                422,
                "The request body is not valid JSON (it must be UTF-8 text of reasonable depth "
                "with numbers of reasonable size).",
                {"errors": [{"field": "request", "error": "unreadable JSON"}]},
            )
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        return failure(exc.status_code, message, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> OrjsonResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return failure(500, "Internal server error; the request was not carried out.")
