"""What the SDK raises."""

from __future__ import annotations


class ClientError(Exception):
    """Base of the SDK's errors."""


class LoginFailed(ClientError):
    """The server refused the username or password (or the account's token)."""


class ServerUnreachable(ClientError):
    """No answer from the server's address (wrong URL, server down, network cut)."""


class ApiError(ClientError):
    """The server answered an action with an error envelope."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{message} (HTTP {status})")
        self.status = status
        self.message = message
