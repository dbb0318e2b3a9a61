"""console/settings.py parses the environment strictly: a bad value stops start-up.

Settings load once per process, so each case starts a fresh interpreter with its own
environment and a private VAR_DIR. It reads the settings without django.setup(): importing every
app (pymilvus, grpc, Celery) would cost a CPU-second per case and tells nothing about settings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import global_settings, settings

ROOT = Path(__file__).resolve().parent.parent
SHOW = (
    "import json; from django.conf import settings as s; "
    "print(json.dumps({'DEBUG': s.DEBUG, 'ALLOWED_HOSTS': s.ALLOWED_HOSTS, "
    "'PRIVATE': s.MIGRATION_ALLOW_PRIVATE_ENDPOINTS, 'ENGINE': s.DATABASES['default']['ENGINE'], "
    "'DB_NAME': str(s.DATABASES['default']['NAME']), 'REDIS_URL': s.REDIS_URL, "
    "'LIMIT': s.LOGIN_FAILURE_LIMIT, 'KEY': s.FIELD_ENCRYPTION_KEY, 'SECRET': s.SECRET_KEY, "
    "'SSL_REDIRECT': s.SECURE_SSL_REDIRECT, 'HSTS': s.SECURE_HSTS_SECONDS, "
    "'SECURE_COOKIES': [s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE], "
    "'PROXY_HEADER': s.SECURE_PROXY_SSL_HEADER, 'PROXIES': s.TRUSTED_PROXY_COUNT, "
    "'VALIDATORS': [v['NAME'].rsplit('.', 1)[1] for v in s.AUTH_PASSWORD_VALIDATORS], "
    "'RETRY': [s.MIGRATION_RETRY_ATTEMPTS, s.MIGRATION_RETRY_FIRST_DELAY, "
    "s.MIGRATION_RETRY_MAX_DELAY], "
    "'LEASE': [s.MIGRATION_HEARTBEAT, s.MIGRATION_STALE_AFTER, s.MIGRATION_CALL_TIMEOUT], "
    "'HASHERS': s.PASSWORD_HASHERS}))"
)
# What production brings (DEBUG off refuses to start without them).
PRODUCTION_KEYS = {
    "SECRET_KEY": "a-production-secret-key-that-is-long-and-random-4f9c1e7b2d8a6035",
    "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
}
NAMES = (
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DATABASE_URL",
    "REDIS_URL",
    "FIELD_ENCRYPTION_KEY",
    "MIGRATION_ALLOW_PRIVATE_ENDPOINTS",
    "LOGIN_FAILURE_LIMIT",
    "SESSION_IDLE_TIMEOUT",
    "CONTENT_SECURITY_POLICY",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_PROXY_SSL_HEADER",
    "TRUSTED_PROXY_COUNT",
    "MIGRATION_RETRY_ATTEMPTS",
    "MIGRATION_RETRY_FIRST_DELAY",
    "MIGRATION_RETRY_MAX_DELAY",
    "API_KEYS_PER_USER",
    "WEB_PORTS",
    "MIGRATION_HEARTBEAT",
    "MIGRATION_STALE_AFTER",
    "MIGRATION_CALL_TIMEOUT",
)


def load(
    tmp_path: Path, *, keys: bool = True, command: list[str] | None = None, **env: str
) -> subprocess.CompletedProcess:
    """Settings in a fresh interpreter; with `keys`, the environment brings production's keys
    (unless DEBUG is on, where the dev keys in var/ are the point)."""
    clean = {k: v for k, v in os.environ.items() if k not in NAMES}
    if keys and env.get("DEBUG", "false").lower() not in ("1", "true", "yes", "on"):
        clean.update(PRODUCTION_KEYS)
    clean.update({"DJANGO_SETTINGS_MODULE": "console.settings", "VAR_DIR": str(tmp_path / "var")})
    clean.update(env)
    return subprocess.run(
        command or [sys.executable, "-c", SHOW],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def loaded(tmp_path: Path, **env: str) -> dict:
    result = load(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def refused(tmp_path: Path, keys: bool = True, **env: str) -> str:
    result = load(tmp_path, keys=keys, **env)
    assert result.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured" in result.stderr
    return result.stderr.strip().splitlines()[-1]


def test_it_uses_safe_defaults_with_only_the_keys_in_the_environment(tmp_path):
    values = loaded(tmp_path)
    assert values["DEBUG"] is False
    assert values["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost"]
    assert values["ENGINE"] == "django.db.backends.sqlite3"
    assert values["DB_NAME"] == str(tmp_path / "var" / "console.sqlite3")
    assert values["REDIS_URL"] == "redis://127.0.0.1:6379/0"
    # Production: no private endpoints, https only, nothing believed from proxy headers.
    assert values["PRIVATE"] is False
    assert values["SSL_REDIRECT"] is True and values["HSTS"] == 31_536_000
    assert values["SECURE_COOKIES"] == [True, True]
    assert values["PROXY_HEADER"] is None and values["PROXIES"] == 0
    assert values["VALIDATORS"] == [
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    ]
    assert (tmp_path / "var").stat().st_mode & 0o777 == 0o700
    assert not (tmp_path / "var" / "secret_key").exists()


def test_it_keeps_djangos_default_password_hasher_in_production(tmp_path):
    """Only the test suite (tests/settings.py) trades PBKDF2 for speed."""
    hashers = loaded(tmp_path)["HASHERS"]
    assert hashers == global_settings.PASSWORD_HASHERS
    assert hashers[0] == "django.contrib.auth.hashers.PBKDF2PasswordHasher"


def test_the_tests_and_the_processes_they_start_hash_fast(tmp_path):
    # The Celery workers and manage.py commands the tests start inherit this environment.
    assert os.environ["DJANGO_SETTINGS_MODULE"] == "tests.settings"
    assert settings.PASSWORD_HASHERS == ["django.contrib.auth.hashers.MD5PasswordHasher"]
    assert loaded(tmp_path, DJANGO_SETTINGS_MODULE="tests.settings")["HASHERS"] == (
        settings.PASSWORD_HASHERS
    )


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEY"])
def test_it_refuses_to_start_without_keys_when_debug_is_off(tmp_path, missing):
    env = {k: v for k, v in PRODUCTION_KEYS.items() if k != missing}
    message = refused(tmp_path, keys=False, **env)
    assert message.endswith(
        f"{missing} must be set in the environment when DEBUG is off (README: Production)"
    )
    assert not (tmp_path / "var" / "secret_key").exists()
    assert not (tmp_path / "var" / "field_encryption_key").exists()


def test_it_uses_dev_defaults_with_debug_on(tmp_path):
    values = loaded(tmp_path, DEBUG="true")
    assert values["PRIVATE"] is True
    assert values["SSL_REDIRECT"] is False and values["HSTS"] == 0
    assert values["SECURE_COOKIES"] == [False, False]


def test_it_makes_dev_secrets_once_in_var_and_keeps_them_private(tmp_path):
    first, second = loaded(tmp_path, DEBUG="true"), loaded(tmp_path, DEBUG="true")
    assert first["KEY"] == second["KEY"] and first["SECRET"] == second["SECRET"]
    Fernet(first["KEY"].encode())
    for name in ("field_encryption_key", "secret_key"):
        assert (tmp_path / "var" / name).stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "var").stat().st_mode & 0o777 == 0o700


def test_it_creates_dev_secrets_private_from_the_first_byte(tmp_path):
    # A umask that would leave a new file world-readable: the key file is created 0600
    # (os.open with the mode), not written first and chmod-ed after.
    script = f"import os; os.umask(0); exec({SHOW!r})"
    result = load(tmp_path, command=[sys.executable, "-c", script], DEBUG="true")
    assert result.returncode == 0, result.stderr
    for name in ("field_encryption_key", "secret_key"):
        assert (tmp_path / "var" / name).stat().st_mode & 0o777 == 0o600


def test_it_passes_the_deploy_check_with_production_settings(tmp_path):
    result = load(
        tmp_path,
        command=[sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        ALLOWED_HOSTS="console.example.com",
        TRUSTED_PROXY_COUNT="1",
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


def test_it_believes_the_forwarded_proto_only_behind_a_proxy(tmp_path):
    assert loaded(tmp_path)["PROXY_HEADER"] is None
    values = loaded(tmp_path, TRUSTED_PROXY_COUNT="1")
    assert values["PROXY_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["PROXIES"] == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("False", False),
        ("false", False),
        ("0", False),
        ("off", False),
        ("True", True),
        ("1", True),
        ("yes", True),
    ],
)
def test_it_parses_debug_strictly(tmp_path, raw, expected):
    assert loaded(tmp_path, DEBUG=raw)["DEBUG"] is expected


def test_it_refuses_an_unknown_debug_value(tmp_path):
    assert refused(tmp_path, DEBUG="maybe").endswith(
        "DEBUG must be one of true/false/1/0/yes/no/on/off, not 'maybe'"
    )


def test_it_reads_the_environment(tmp_path):
    key = Fernet.generate_key().decode()
    values = loaded(
        tmp_path,
        ALLOWED_HOSTS="console.example.com, .example.org",
        SECRET_KEY="s3cr3t",
        FIELD_ENCRYPTION_KEY=key,
        MIGRATION_ALLOW_PRIVATE_ENDPOINTS="off",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/console",
        REDIS_URL="redis://cache.internal:6380/2",
        LOGIN_FAILURE_LIMIT="3",
    )
    assert values["ALLOWED_HOSTS"] == ["console.example.com", ".example.org"]
    assert (values["SECRET"], values["KEY"]) == ("s3cr3t", key)
    assert values["PRIVATE"] is False
    assert loaded(tmp_path, **PRODUCTION_KEYS, MIGRATION_ALLOW_PRIVATE_ENDPOINTS="on")["PRIVATE"]
    assert (values["ENGINE"], values["DB_NAME"]) == ("django.db.backends.postgresql", "console")
    assert values["REDIS_URL"] == "redis://cache.internal:6380/2"
    assert values["LIMIT"] == 3
    assert not (tmp_path / "var" / "field_encryption_key").exists()


# A fixed truncated key, not a fresh one: every pytest-xdist process must collect the same ids.
TRUNCATED_KEY = "dGVzdHMtb25seS1maWVsZC1lbmNyeXB0aW9uLWtleSE="[:-4]


@pytest.mark.parametrize("raw", ["not-a-key", TRUNCATED_KEY])
def test_it_refuses_a_bad_field_encryption_key(tmp_path, raw):
    assert refused(tmp_path, FIELD_ENCRYPTION_KEY=raw).endswith(
        "FIELD_ENCRYPTION_KEY must be a url-safe base64 Fernet key (32 bytes)"
    )


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("nosuchdb://host/name", "Scheme 'nosuchdb://' is unknown"),
        ("postgres://u@host:notaport/db", "not a valid url"),
    ],
)
def test_it_refuses_a_bad_database_url(tmp_path, raw, reason):
    message = refused(tmp_path, DATABASE_URL=raw)
    assert "DATABASE_URL is not a valid database URL" in message and reason in message


@pytest.mark.parametrize("raw", ["http://127.0.0.1:6379/0", "127.0.0.1:6379"])
def test_it_refuses_a_bad_redis_url(tmp_path, raw):
    assert refused(tmp_path, REDIS_URL=raw).endswith(
        f"REDIS_URL must be a redis:// URL, not {raw!r}"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("five", "LOGIN_FAILURE_LIMIT must be an integer, not 'five'"),
        ("0", "LOGIN_FAILURE_LIMIT must be >= 1, not 0"),
    ],
)
def test_it_refuses_a_bad_login_failure_limit(tmp_path, raw, message):
    assert refused(tmp_path, LOGIN_FAILURE_LIMIT=raw).endswith(message)


SHOW_LIMITS = (
    "import json; from django.conf import settings as s; "
    "print(json.dumps([s.API_KEYS_PER_USER, s.WEB_PORTS]))"
)


def _limits(tmp_path, **env: str) -> list:
    result = load(tmp_path, command=[sys.executable, "-c", SHOW_LIMITS], **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_it_reads_the_api_key_limit_and_the_web_ports(tmp_path):
    assert _limits(tmp_path) == [10, [8000]]
    assert _limits(tmp_path, API_KEYS_PER_USER="3", WEB_PORTS="8000, 8443") == [3, [8000, 8443]]
    assert _limits(tmp_path, WEB_PORTS="") == [10, []]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"API_KEYS_PER_USER": "0"}, "API_KEYS_PER_USER must be >= 1, not 0"),
        ({"API_KEYS_PER_USER": "many"}, "API_KEYS_PER_USER must be an integer, not 'many'"),
        ({"WEB_PORTS": "8000,http"}, "WEB_PORTS must list TCP ports, not 'http'"),
        ({"WEB_PORTS": "70000"}, "WEB_PORTS must list ports from 1 to 65535, not 70000"),
    ],
)
def test_it_refuses_a_bad_api_key_limit_or_web_port(tmp_path, env, message):
    assert refused(tmp_path, **env).endswith(message)


def test_it_refuses_a_bad_private_endpoints_flag(tmp_path):
    assert "MIGRATION_ALLOW_PRIVATE_ENDPOINTS must be one of" in refused(
        tmp_path, MIGRATION_ALLOW_PRIVATE_ENDPOINTS="sometimes"
    )


def test_it_refuses_a_database_url_without_a_database_name(tmp_path):
    assert refused(tmp_path, DATABASE_URL="postgres://postgres@127.0.0.1:5432").endswith(
        "DATABASE_URL must name a database, e.g. postgres://u@h/console"
    )


SHOW_SECURITY = (
    "import json; from django.conf import settings as s; "
    "print(json.dumps({'IDLE': s.SESSION_IDLE_TIMEOUT, 'CSP': s.CONTENT_SECURITY_POLICY}))"
)


def security(tmp_path: Path, **env: str) -> dict:
    result = load(tmp_path, command=[sys.executable, "-c", SHOW_SECURITY], **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_it_ends_idle_sessions_after_eight_hours_and_allows_no_inline_script_by_default(
    tmp_path,
):
    values = security(tmp_path)
    assert values["IDLE"] == 8 * 3600
    directives = dict(d.strip().split(" ", 1) for d in values["CSP"].split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"


def test_it_reads_the_idle_timeout_and_the_policy(tmp_path):
    policy = "default-src 'self'; report-uri /csp-report"
    values = security(tmp_path, SESSION_IDLE_TIMEOUT="900", CONTENT_SECURITY_POLICY=policy)
    assert values == {"IDLE": 900, "CSP": policy}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SESSION_IDLE_TIMEOUT": "8h"}, "SESSION_IDLE_TIMEOUT must be an integer, not '8h'"),
        ({"SESSION_IDLE_TIMEOUT": "59"}, "SESSION_IDLE_TIMEOUT must be >= 60, not 59"),
        ({"CONTENT_SECURITY_POLICY": " ; "}, "CONTENT_SECURITY_POLICY must not be empty"),
        (
            {"CONTENT_SECURITY_POLICY": "img-src 'self'"},
            "CONTENT_SECURITY_POLICY must have script-src or default-src",
        ),
        (
            {"CONTENT_SECURITY_POLICY": "default-src 'self'; script-src 'self' 'unsafe-inline'"},
            "CONTENT_SECURITY_POLICY must not allow scripts 'unsafe-inline', not "
            "\"default-src 'self'; script-src 'self' 'unsafe-inline'\"",
        ),
        (
            {"CONTENT_SECURITY_POLICY": "default-src 'self' 'UNSAFE-EVAL'"},
            "CONTENT_SECURITY_POLICY must not allow scripts 'unsafe-eval', not "
            "\"default-src 'self' 'UNSAFE-EVAL'\"",
        ),
    ],
)
def test_it_refuses_a_bad_idle_timeout_or_policy(tmp_path, env, message):
    assert refused(tmp_path, **env).endswith(message)


def test_it_keeps_the_engines_retry_schedule_by_default(tmp_path):
    assert loaded(tmp_path, **PRODUCTION_KEYS)["RETRY"] == [8, 0.5, 10.0]


def test_it_reads_the_retry_schedule(tmp_path):
    retry = loaded(
        tmp_path,
        **PRODUCTION_KEYS,
        MIGRATION_RETRY_ATTEMPTS="3",
        MIGRATION_RETRY_FIRST_DELAY="0.05",
        MIGRATION_RETRY_MAX_DELAY="0.2",
    )["RETRY"]
    assert retry == [3, 0.05, 0.2]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MIGRATION_RETRY_ATTEMPTS": "0"}, "MIGRATION_RETRY_ATTEMPTS must be >= 1, not 0"),
        (
            {"MIGRATION_RETRY_ATTEMPTS": "2.5"},
            "MIGRATION_RETRY_ATTEMPTS must be an integer, not '2.5'",
        ),
        (
            {"MIGRATION_RETRY_FIRST_DELAY": "soon"},
            "MIGRATION_RETRY_FIRST_DELAY must be a number, not 'soon'",
        ),
        (
            {"MIGRATION_RETRY_FIRST_DELAY": "-1"},
            "MIGRATION_RETRY_FIRST_DELAY must be >= 0, not -1",
        ),
        (
            {"MIGRATION_RETRY_MAX_DELAY": "nan"},
            "MIGRATION_RETRY_MAX_DELAY must be a finite number, not 'nan'",
        ),
        (
            {"MIGRATION_RETRY_MAX_DELAY": "inf"},
            "MIGRATION_RETRY_MAX_DELAY must be a finite number, not 'inf'",
        ),
        (
            {"MIGRATION_RETRY_FIRST_DELAY": "2", "MIGRATION_RETRY_MAX_DELAY": "1"},
            "MIGRATION_RETRY_MAX_DELAY (1) must be >= MIGRATION_RETRY_FIRST_DELAY (2)",
        ),
    ],
)
def test_it_refuses_a_bad_retry_schedule(tmp_path, env, message):
    assert refused(tmp_path, **env).endswith(message)


def test_it_reads_the_env_file_so_commands_work_in_a_new_shell(tmp_path):
    """`make install` writes .env from .env.development; a new shell then has no DEBUG and no
    keys of its own, and manage.py must still start (#16: the README's CLI examples)."""
    env_file = tmp_path / ".env"
    env_file.write_text("# comment\nDEBUG=true\nALLOWED_HOSTS=console.example.com\n")
    result = load(
        tmp_path, keys=False, ENV_FILE=str(env_file), command=[sys.executable, "manage.py", "check"]
    )
    assert result.returncode == 0, result.stderr
    values = loaded(tmp_path, keys=False, ENV_FILE=str(env_file))
    assert values["DEBUG"] is True
    assert values["ALLOWED_HOSTS"] == ["console.example.com"]


def test_the_environment_wins_over_the_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DEBUG=true\nMIGRATION_RETRY_ATTEMPTS=7\n")
    values = loaded(tmp_path, ENV_FILE=str(env_file), DEBUG="false")
    assert values["DEBUG"] is False
    assert values["RETRY"][0] == 7  # what the environment does not set still comes from the file


def test_the_development_defaults_turn_debug_on(tmp_path):
    values = loaded(tmp_path, keys=False, ENV_FILE=str(ROOT / ".env.development"))
    assert values["DEBUG"] is True
    assert values["PRIVATE"] is True


def test_it_refuses_an_env_file_that_is_not_there(tmp_path):
    message = refused(tmp_path, ENV_FILE=str(tmp_path / "missing.env"))
    assert message.endswith(f"ENV_FILE names {tmp_path / 'missing.env'}, which is not a file")


def test_the_suite_never_reads_a_developers_env_file():
    assert os.environ["ENV_FILE"] == ""


# --- Quotas and credential retention (issue 15) ----------------------------------------------------

QUOTAS = (
    "LOCAL_CLUSTERS_PER_ORG",
    "UNFINISHED_JOBS_PER_PROJECT",
    "RUNNING_JOBS_PER_ORG",
    "RUNNING_JOBS_TOTAL",
    "MIGRATION_CREDENTIAL_RETENTION",
)
SHOW_QUOTAS = (
    "import json; from django.conf import settings as s; "
    f"print(json.dumps([getattr(s, name) for name in {QUOTAS!r}] + "
    "[sorted(e['task'] for e in s.CELERY_BEAT_SCHEDULE.values())]))"
)


def quotas(tmp_path: Path, **env: str) -> list:
    # Unset (empty) unless given: the defaults whatever the calling environment holds.
    result = load(
        tmp_path,
        command=[sys.executable, "-c", SHOW_QUOTAS],
        **{**dict.fromkeys(QUOTAS, ""), **env},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_it_has_sensible_quotas_by_default(tmp_path):
    *values, beat = quotas(tmp_path)
    assert values == [5, 20, 4, 8, 7 * 24 * 3600]
    # The reaper (credentials of failed jobs, waiting jobs) and the wizard drafts' sweep.
    assert beat == ["jobs.reap", "migrations_app.purge_drafts"]


def test_it_reads_the_quotas(tmp_path):
    values = dict(zip(QUOTAS, ("0", "3", "1", "2", "0"), strict=True))
    assert quotas(tmp_path, **values)[:-1] == [0, 3, 1, 2, 0]


@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("LOCAL_CLUSTERS_PER_ORG", "five", "LOCAL_CLUSTERS_PER_ORG must be an integer, not 'five'"),
        ("LOCAL_CLUSTERS_PER_ORG", "-1", "LOCAL_CLUSTERS_PER_ORG must be >= 0, not -1"),
        ("UNFINISHED_JOBS_PER_PROJECT", "0", "UNFINISHED_JOBS_PER_PROJECT must be >= 1, not 0"),
        ("RUNNING_JOBS_PER_ORG", "0", "RUNNING_JOBS_PER_ORG must be >= 1, not 0"),
        ("RUNNING_JOBS_TOTAL", "2.5", "RUNNING_JOBS_TOTAL must be an integer, not '2.5'"),
        (
            "MIGRATION_CREDENTIAL_RETENTION",
            "7d",
            "MIGRATION_CREDENTIAL_RETENTION must be an integer, not '7d'",
        ),
        (
            "MIGRATION_CREDENTIAL_RETENTION",
            "-5",
            "MIGRATION_CREDENTIAL_RETENTION must be >= 0, not -5",
        ),
    ],
)
def test_it_refuses_a_bad_quota(tmp_path, name, raw, message):
    assert refused(tmp_path, **{name: raw}).endswith(message)


def test_it_keeps_the_lease_defaults(tmp_path):
    assert loaded(tmp_path, **PRODUCTION_KEYS)["LEASE"] == [5, 60, 300]


def test_it_reads_the_lease_settings(tmp_path):
    lease = loaded(
        tmp_path,
        **PRODUCTION_KEYS,
        MIGRATION_HEARTBEAT="2",
        MIGRATION_STALE_AFTER="10",
        MIGRATION_CALL_TIMEOUT="30",
    )["LEASE"]
    assert lease == [2, 10, 30]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MIGRATION_CALL_TIMEOUT": "0"}, "MIGRATION_CALL_TIMEOUT must be >= 1, not 0"),
        ({"MIGRATION_CALL_TIMEOUT": "1m"}, "MIGRATION_CALL_TIMEOUT must be an integer, not '1m'"),
        (
            {"MIGRATION_HEARTBEAT": "10", "MIGRATION_STALE_AFTER": "10"},
            "MIGRATION_HEARTBEAT (10) must be shorter than MIGRATION_STALE_AFTER (10): a lease "
            "would expire between two renewals",
        ),
    ],
)
def test_it_refuses_bad_lease_settings(tmp_path, env, message):
    assert refused(tmp_path, **env).endswith(message)
