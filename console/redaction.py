"""Remove secrets from text before it is logged, stored as a job event or returned.

Used by the logging filter (settings.LOGGING) and by anything that writes user-visible text
derived from exceptions (job events, connection-test errors).
"""

from __future__ import annotations

import logging
import re

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
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True
