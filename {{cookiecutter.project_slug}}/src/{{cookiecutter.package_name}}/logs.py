"""Log lines an operator can search: one JSON object per line, or text on a terminal.

Every line logged while a connection is handled carries its ``connection_id`` (and ``user``,
once it has one) without the call sites passing them: the connection's task sets them in a
context variable as it opens (``bind_connection``), and a logging filter adds them to each
record. A task the connection starts inherits them. Code that logs about another connection
(a broadcast that sheds a slow one) names it with ``extra={"connection_id": ...}``, which wins.

The standard library's ``logging`` with a small JSON formatter, rather than structlog: the
service, Litestar and uvicorn all log through ``logging`` already, so one formatter covers the
three with no second logging system to configure, and no dependency.
"""

import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar.logging import LoggingConfig

LOG_FORMATS = ("json", "text")

# msgspec, not the json module: a line costs a few microseconds less, once per connection.
_encode_json = msgspec.json.Encoder(enc_hook=str).encode

_connection_id: ContextVar[str | None] = ContextVar("connection_id", default=None)
_user: ContextVar[str | None] = ContextVar("user", default=None)

# What every LogRecord has: anything else on a record came from ``extra=`` and is logged too.
# (uvicorn adds ``color_message``, the message with terminal colours.)
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "color_message",
}


class UvicornNoise(logging.Filter):
    """Drops uvicorn's error for a handshake the service refused with an HTTP status on purpose
    (handshake.py): uvicorn logs it although the client got the status (Kludex/uvicorn#3138)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != "ASGI callable returned without completing handshake."


def bind_connection(connection_id: str, user: str | None = None) -> None:
    """Tag every line logged from now on in this task (and the tasks it starts)."""
    _connection_id.set(connection_id)
    _user.set(user)


class ConnectionContext(logging.Filter):
    """Adds ``connection_id`` and ``user`` to each record, from the connection being handled."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "connection_id"):
            record.connection_id = _connection_id.get()
        if not hasattr(record, "user"):
            record.user = _user.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``timestamp``, ``level``, ``logger``, ``event``, the
    connection's ids when there is one, what the call passed with ``extra=``, and ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return _encode_json(line).decode()


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [connection] message key=value...``: for people at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(connection)s %(message)s%(fields)s")

    def format(self, record: logging.LogRecord) -> str:
        connection_id = getattr(record, "connection_id", None)
        record.connection = f" [{connection_id}]" if connection_id else ""
        fields = {
            key: value
            for key, value in vars(record).items()
            if key not in _RECORD_ATTRIBUTES
            and key not in ("connection_id", "connection", "fields")
            and value is not None
        }
        record.fields = "".join(f" {key}={value}" for key, value in fields.items())
        return super().format(record)


def logging_config(log_format: str, level: str, package: str) -> LoggingConfig:
    """The service's, Litestar's and uvicorn's loggers (and the root logger), all in
    ``log_format``, written to standard error as they are logged.

    Not through Litestar's default queue handler: its thread would still hold the last lines
    when uvicorn ends the process on SIGTERM (it re-raises the signal, so nothing at exit runs).
    The service logs per connection, never per message, so a direct write costs little.
    """
    everywhere = {"handlers": ["console"], "propagate": False}
    return LoggingConfig(
        formatters={"standard": {"()": JsonFormatter if log_format == "json" else TextFormatter}},
        filters={
            "connection": {"()": ConnectionContext},
            "uvicorn_noise": {"()": UvicornNoise},
        },
        handlers={
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "standard",
                # Runs in the task that logs, where the connection's context is.
                "filters": ["connection"],
            },
            "queue_listener": {"class": "logging.NullHandler"},  # Litestar's default: unused
        },
        root={"handlers": ["console"], "level": "INFO"},
        loggers={
            package: {"level": level, **everywhere},
            "litestar": {"level": "INFO", **everywhere},
            # uvicorn's own lines too (__main__ tells uvicorn not to configure its loggers); their
            # level stays uvicorn's (--log-level), INFO from the root logger by default.
            "uvicorn.error": {**everywhere, "filters": ["uvicorn_noise"]},
            "uvicorn.access": everywhere,
        },
    )
