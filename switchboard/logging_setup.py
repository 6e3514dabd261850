"""Logging set-up: key=value or JSON lines on stderr, with secrets masked before anything is written."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

from switchboard.settings import MASK, Settings, secret_values

# scheme://user:password@host -> keep the user, hide the password (redis://:pw@ has an empty user)
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)(?P<at>@)")
# key=value pairs inside a message, for JSON output (values may be "quoted")
_PAIR = re.compile(r'(?<![\w.])(?P<key>[a-z_][a-z0-9_]*)=(?P<value>"[^"]*"|\S+)')
# A few characters are too short to mask safely (masking "a" would mangle every line).
MIN_SECRET_LENGTH = 4

_HANDLER_NAME = "switchboard"


def mask_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace every known secret value and every password inside a URL with a fixed mask."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, MASK)
    return _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['at']}", text)


class SecretMaskingFilter(logging.Filter):
    """Masks configured secrets and URL passwords in the message and in any traceback text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # bad %-args: let the handler report it through its usual handleError path
            return True
        masked = mask_secrets(message, self.secrets)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_secrets(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = mask_secrets(record.stack_info, self.secrets)
        return True


class InterruptedResetFilter(logging.Filter):
    """SQLAlchemy's pool logs a traceback when a task is cancelled while its connection is being rolled back
    on check-in (at shutdown, or a timeout around a database write). The pool already discards that
    connection and the database rolls the transaction back, so nothing is lost: one warning line says so.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.name.startswith("sqlalchemy.pool")
            and record.exc_info
            and isinstance(record.exc_info[1], asyncio.CancelledError)
        ):
            record.msg = (
                "database connection discarded: a cancelled task interrupted its rollback "
                "(the database rolls the transaction back)"
            )
            record.args, record.exc_info, record.exc_text = None, None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _timestamp(record: logging.LogRecord) -> str:
    when = datetime.fromtimestamp(record.created, UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class KeyValueFormatter(logging.Formatter):
    """``ts=... level=INFO logger=acd.dispatcher <message with its own key=value pairs>``."""

    def format(self, record: logging.LogRecord) -> str:
        # Caller-controlled text (caller ID, AGI arguments) must not be able to start a forged log line.
        message = record.getMessage().replace("\r", "\\r").replace("\n", "\\n")
        line = f"ts={_timestamp(record)} level={record.levelname} logger={record.name} {message}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        return f"{line}\n{record.exc_text}" if record.exc_text else line


class JsonFormatter(logging.Formatter):
    """One JSON object per line; ``key=value`` pairs in the message also become fields (e.g. call_id)."""

    RESERVED = frozenset({"ts", "level", "logger", "msg", "exc"})

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        out: dict[str, str] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": message,
        }
        for match in _PAIR.finditer(message):
            key = match["key"]
            if key not in self.RESERVED:
                out.setdefault(key, match["value"].strip('"'))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, ensure_ascii=False)


def setup_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Route every logger to one stderr handler in the configured format, with the masking filter.

    Calling it again replaces the handler it installed before (tests and repeated CLI calls).
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if settings.general.log_format == "json" else KeyValueFormatter())
    handler.addFilter(InterruptedResetFilter())
    handler.addFilter(SecretMaskingFilter(secret_values(settings)))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.general.log_level)
    # Libraries that log every packet at INFO drown the call lines.
    for noisy in ("aiosqlite", "asyncio", "panoramisk", "alembic.runtime.plugins"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    return handler
