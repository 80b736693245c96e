"""What the SDK raises."""

from __future__ import annotations


class ClientError(Exception):
    """Base of the SDK's errors."""


class LoginFailed(ClientError):
    """The server refused the username or password (or the account's token)."""


class ServerUnreachable(ClientError):
    """No answer from the server's address (wrong URL, server down, network cut)."""


class ApiError(ClientError):
    """The server answered with an error envelope.

    ``retry_after`` is the wait in seconds the server asked for (its
    ``Retry-After`` header, on a 429 or 503), or ``None``.
    """

    def __init__(self, status: int, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"{message} (HTTP {status})")
        self.status = status
        self.message = message
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """Whether trying again later may succeed: the server was busy, broken or
        throttling (429 or 5xx), not refusing the request itself."""
        return self.status == 429 or self.status >= 500
