"""Logging set-up: secrets never reach a log line, and a client cannot fill the log."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

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


#: What uvicorn logs as a server error (with a traceback) although the client
#: caused it, and the one line orderbell logs instead, at INFO.
CLIENT_FAULTS = {
    # websockets-sansio: a text frame that is not UTF-8; the client gets close code 1007.
    "Invalid UTF-8 sequence received from client.": (
        "a client sent a text frame that is not UTF-8: closed with 1007"
    ),
}


class ClientFaults(logging.Filter):
    """Turns uvicorn's error records about a client's bad input into one INFO line.

    Without it, every client that sends a text frame that is not UTF-8 puts
    an ERROR and a full traceback in the server's log. The record is kept
    only if the logger is open to INFO.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.INFO or not isinstance(record.msg, str):
            return True
        line = CLIENT_FAULTS.get(record.msg)
        if line is None:
            return True
        record.msg, record.args = line, ()
        record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return logging.getLogger(record.name).isEnabledFor(logging.INFO)


def _add_once(logger: logging.Logger, kind: type[logging.Filter]) -> None:
    if not any(isinstance(f, kind) for f in logger.filters):
        logger.addFilter(kind())


def install_filters(
    names: tuple[str, ...] = ("uvicorn.error", "uvicorn.access", "uvicorn"),
) -> None:
    """Attach the redacting filter to the server's loggers, and ``ClientFaults`` to
    uvicorn's error logger (once each), whatever configured logging."""
    for name in names:
        _add_once(logging.getLogger(name), RedactSecrets)
    _add_once(logging.getLogger("uvicorn.error"), ClientFaults)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the error, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def logging_config(level: str, fmt: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the server: text or JSON lines, secrets redacted."""
    formatter: dict[str, Any] = (
        {"()": "orderbell.logs.JsonFormatter"}
        if fmt == "json"
        else {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    )
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "main",
        "filters": ["redact"],
        "stream": "ext://sys.stderr",
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "redact": {"()": "orderbell.logs.RedactSecrets"},
            "client_faults": {"()": "orderbell.logs.ClientFaults"},
        },
        "formatters": {"main": formatter},
        "handlers": {"main": handler},
        "loggers": {
            "uvicorn": {"handlers": ["main"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper(), "filters": ["client_faults"]},
            "uvicorn.access": {"handlers": ["main"], "level": level.upper(), "propagate": False},
        },
        "root": {"handlers": ["main"], "level": level.upper()},
    }
