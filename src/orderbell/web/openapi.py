"""The served OpenAPI document, made to tell the truth about the envelope.

Every response is ``{"code", "msg", "data"}``: ``code`` 1 on success, 0 on
an error with a readable ``msg``. FastAPI would document its own 422 body
(``HTTPValidationError``), which orderbell never sends; this hook documents
the envelope instead, for success and for every error status, so that
clients generated from ``/openapi.json`` (and schema checkers) read the
real responses.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

SUCCESS = "Envelope"
ERROR = "ErrorEnvelope"

_SCHEMAS: dict[str, dict[str, Any]] = {
    SUCCESS: {
        "title": SUCCESS,
        "description": "A successful response: `code` 1 and the result in `data`.",
        "type": "object",
        "required": ["code", "msg", "data"],
        "properties": {
            "code": {"type": "integer", "enum": [1]},
            "msg": {"type": ["string", "null"]},
            "data": {"description": "The result; its shape depends on the operation."},
        },
    },
    ERROR: {
        "title": ERROR,
        "description": (
            "A refused request: `code` 0, a message a person can act on in `msg`, and "
            "details in `data` (for malformed input `{errors: [{field, error}]}`, for "
            "too many tries `{retryAfter, nextAllowedAt}`)."
        ),
        "type": "object",
        "required": ["code", "msg", "data"],
        "properties": {
            "code": {"type": "integer", "enum": [0]},
            "msg": {"type": "string"},
            "data": {"description": "Details of the error, or null."},
        },
    },
}

_ERRORS = {
    "400": "A shop rule refused the request (for example confirming an unpaid order).",
    "401": "Not logged in, or the token is invalid or expired.",
    "403": "A login of the wrong kind.",
    "404": "Unknown id, or someone else's.",
    "413": "The request body is too large.",
    "422": "Malformed input: `data.errors` names each bad field.",
    "429": "Too many tries; `Retry-After` and `data.retryAfter` say when to try again.",
}
_DEFAULT = (
    "Any other error, in the same envelope (409 a clash with existing data, "
    "500 a fault of the server)."
)


def _ref(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}


def rewrite(schema: dict[str, Any]) -> dict[str, Any]:
    """Document the envelope on every operation of an OpenAPI ``schema`` (in place)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(_SCHEMAS)
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[str, Any] = operation["responses"]
            for status, response in responses.items():
                if status.startswith("2"):
                    response["content"] = _ref(SUCCESS)
            # Any other success (a publish replayed by its Idempotency-Key is
            # 200 where a new one is 201) is the same envelope.
            responses.setdefault(
                "2XX", {"description": "Success, in the envelope.", "content": _ref(SUCCESS)}
            )
            for status, description in _ERRORS.items():
                responses[status] = {"description": description, "content": _ref(ERROR)}
            responses["default"] = {"description": _DEFAULT, "content": _ref(ERROR)}
    return schema


def document_envelope(app: FastAPI) -> None:
    """Make ``app`` serve an OpenAPI document with the envelope on every operation."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = rewrite(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
