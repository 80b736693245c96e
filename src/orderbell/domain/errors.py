"""Errors the domain and the services raise; the web layer maps them to the envelope."""

from __future__ import annotations


class OrderbellError(Exception):
    """Base of every error a request can end in; ``message`` is for people."""

    status_code = 400

    def __init__(self, message: str, *, data: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data


class BusinessError(OrderbellError):
    """A shop rule refuses the request (an illegal state change, an empty cart, ...)."""

    status_code = 400


class NotFound(OrderbellError):
    """The thing does not exist, or does not belong to the caller (no difference is told)."""

    status_code = 404


class Unauthorized(OrderbellError):
    """No credentials, or credentials that are not valid."""

    status_code = 401


class Forbidden(OrderbellError):
    """Valid credentials, but of a kind that may not do this."""

    status_code = 403


class Conflict(OrderbellError):
    """The request clashes with existing data (a taken phone number or login)."""

    status_code = 409


class TooManyRequests(OrderbellError):
    """Too many tries in too short a time (reminders, logins).

    ``retry_after`` is the number of seconds after which a new try may
    succeed, or ``None`` when waiting will not help (a limit that does not
    reset by itself).
    """

    status_code = 429

    def __init__(
        self, message: str, *, retry_after: int | None = None, data: object = None
    ) -> None:
        super().__init__(message, data=data)
        self.retry_after = retry_after
