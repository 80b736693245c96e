"""Logging set-up: secrets never reach a log line."""

from __future__ import annotations

import logging
import re

_SECRET_QUERY = re.compile(r"(?i)\b(token|password|api_key|key)=[^&\s\"']*")


def redact(text: str) -> str:
    """``text`` with the values of secret query parameters replaced by ``***``."""
    return _SECRET_QUERY.sub(lambda m: f"{m.group(1)}=***", text)


class RedactSecrets(logging.Filter):
    """Rewrites log records so that tokens in URLs (the console's ``?token=``) are hidden."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install_redaction(
    names: tuple[str, ...] = ("uvicorn.error", "uvicorn.access", "uvicorn"),
) -> None:
    """Attach the redacting filter to the server's loggers (once)."""
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
