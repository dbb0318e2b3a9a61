"""Remove secrets from text before it is logged, stored as a job event or returned.

Used by the logging filter (settings.LOGGING) and by anything that writes user-visible text
derived from exceptions (job events, connection-test errors).
"""

from __future__ import annotations

import logging
import re

import pymilvus  # noqa: F401 - imported first, so the handlers it installs exist to be replaced

_PATTERNS = [
    (re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.I), r"\1***"),
    # user:password@ in URIs
    (re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@", re.I), r"\g<scheme>***@"),
    # token=..., password=..., api_key=... (also JSON-ish "password": "...")
    (
        re.compile(
            r"(?P<k>(token|password|passwd|api[_-]?key|secret|authorization)\W{0,3}[:=]\s*['\"]?)[^'\"\s,}]+",
            re.I,
        ),
        r"\g<k>***",
    ),
]


def redact(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """Return `text` with known secrets and credential-looking substrings replaced by ***."""
    out = str(text)
    for secret in secrets:
        if secret and len(secret) >= 3:
            out = out.replace(secret, "***")
    for pattern, repl in _PATTERNS:
        out = pattern.sub(repl, out)
    return out


class RedactingFilter(logging.Filter):
    """Redact a record's message, traceback and stack before any handler formats them."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set: the traceback is printed redacted.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


# pymilvus configures these loggers when it is imported: its own stream handlers, no
# propagation, so nothing it logs would pass the console's redaction.
PYMILVUS_LOGGERS = ("pymilvus", "pymilvus.milvus_client", "pymilvus.bulk_writer")


def route_pymilvus_logs() -> None:
    """Send pymilvus' log records through the console's (redacting) handlers instead."""
    for name in PYMILVUS_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True
