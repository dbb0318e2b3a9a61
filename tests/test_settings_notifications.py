"""The settings of job-end notifications (webhook retries, e-mail, the console's address),
parsed as strictly as the rest of console/settings.py (see tests/test_settings.py)."""

from __future__ import annotations

import json
import sys

import pytest

from tests.test_settings import load, refused

SHOW = (
    "import json; from django.conf import settings as s; print(json.dumps(["
    "s.WEBHOOK_ATTEMPTS, s.WEBHOOK_RETRY_DELAY, s.WEBHOOK_RETRY_MAX_DELAY, s.WEBHOOK_TIMEOUT, "
    "s.EMAIL_BACKEND, s.DEFAULT_FROM_EMAIL, s.CONSOLE_URL]))"
)


def shown(tmp_path, **env: str) -> list:
    result = load(tmp_path, command=[sys.executable, "-c", SHOW], **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_it_has_bounded_retries_and_smtp_by_default(tmp_path, monkeypatch):
    # The tests' own backend (pyproject.toml) must not hide the default.
    monkeypatch.delenv("EMAIL_BACKEND", raising=False)
    assert shown(tmp_path) == [
        4,
        10.0,
        300.0,
        5.0,
        "django.core.mail.backends.smtp.EmailBackend",
        "migration-console@localhost",
        "http://127.0.0.1:8000",
    ]


def test_it_prints_mails_in_development(tmp_path, monkeypatch):
    monkeypatch.delenv("EMAIL_BACKEND", raising=False)
    assert shown(tmp_path, DEBUG="true")[4] == "django.core.mail.backends.console.EmailBackend"


def test_it_takes_the_operators_choices(tmp_path):
    values = shown(
        tmp_path,
        WEBHOOK_ATTEMPTS="2",
        WEBHOOK_RETRY_DELAY="0.5",
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
        DEFAULT_FROM_EMAIL="ops@example.com",
        CONSOLE_URL="https://console.example.com/",
    )
    assert values[:2] == [2, 0.5]
    assert values[4:] == [
        "django.core.mail.backends.filebased.EmailBackend",
        "ops@example.com",
        "https://console.example.com",
    ]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WEBHOOK_ATTEMPTS": "0"}, "WEBHOOK_ATTEMPTS must be >= 1, not 0"),
        ({"WEBHOOK_TIMEOUT": "soon"}, "WEBHOOK_TIMEOUT must be a number, not 'soon'"),
        (
            {"WEBHOOK_RETRY_DELAY": "60", "WEBHOOK_RETRY_MAX_DELAY": "30"},
            "WEBHOOK_RETRY_MAX_DELAY (30) must be >= WEBHOOK_RETRY_DELAY (60)",
        ),
        (
            {"EMAIL_USE_TLS": "true", "EMAIL_USE_SSL": "true"},
            "EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on",
        ),
        ({"EMAIL_PORT": "smtp"}, "EMAIL_PORT must be an integer, not 'smtp'"),
        (
            {"CONSOLE_URL": "console.example.com"},
            "CONSOLE_URL must be an http:// or https:// URL, not 'console.example.com'",
        ),
    ],
)
def test_it_refuses_a_bad_value(tmp_path, env, message):
    assert refused(tmp_path, **env).endswith(message)
