"""Django settings: every value comes from the environment, parsed strictly.

A malformed value raises ImproperlyConfigured at start-up instead of silently
turning into something else (e.g. DEBUG="False" must never mean True).
"""

from __future__ import annotations

import math
import os
import secrets
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent


def _read_env_file() -> None:
    """Fill the environment from ENV_FILE (default: `.env` beside manage.py, which `make install`
    makes from `.env.development`), so manage.py, Celery and the README's commands work in a new
    shell. A variable the environment already has wins; ENV_FILE="" reads no file (the tests:
    pyproject.toml), and a missing default file is no error (production sets real variables)."""
    path = os.environ.get("ENV_FILE")
    if path == "":
        return
    env_file = Path(path) if path else BASE_DIR / ".env"
    if path and not env_file.is_file():
        raise ImproperlyConfigured(f"ENV_FILE names {env_file}, which is not a file")
    load_dotenv(env_file, override=False)


_read_env_file()
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
# var/ holds the database, dev keys and cluster data: this user's only.
VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
VAR_DIR.chmod(0o700)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of true/false/1/0/yes/no/on/off, not {raw!r}")


def env_int(name: str, default: int, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum}, not {value}")
    return value


def env_float(name: str, default: float, minimum: float = 0.0) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}") from None
    if not math.isfinite(value):
        raise ImproperlyConfigured(f"{name} must be a finite number, not {raw!r}")
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be >= {minimum:g}, not {value:g}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_ports(name: str, default: list[int]) -> list[int]:
    """A comma-separated list of TCP ports (1-65535); an empty value means none."""
    ports = []
    for item in env_list(name, [str(p) for p in default]):
        try:
            port = int(item)
        except ValueError:
            raise ImproperlyConfigured(f"{name} must list TCP ports, not {item!r}") from None
        if not 1 <= port <= 65535:
            raise ImproperlyConfigured(f"{name} must list ports from 1 to 65535, not {port}")
        ports.append(port)
    return ports


def _dev_secret(filename: str, make) -> str:
    """A per-checkout secret kept in var/, made on first run (DEBUG only).

    Created with mode 0600 from its first byte (O_EXCL: never through a file or link that is
    already there); a second process that loses the race reads the winner's key.
    """
    path = VAR_DIR / filename
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(make())
    return path.read_text().strip()


def _secret(name: str, filename: str, make) -> str:
    """`name` from the environment; outside DEBUG there is no other source.

    A key generated beside the database protects nothing once the machine (or a backup of
    var/) is read, so production must bring its own.
    """
    value = os.environ.get(name, "")
    if value:
        return value
    if not DEBUG:
        raise ImproperlyConfigured(
            f"{name} must be set in the environment when DEBUG is off (README: Production)"
        )
    return _dev_secret(filename, make)


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = _secret("SECRET_KEY", "secret_key", lambda: secrets.token_urlsafe(50))
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])


def _fernet_key() -> str:
    key = _secret(
        "FIELD_ENCRYPTION_KEY", "field_encryption_key", lambda: Fernet.generate_key().decode()
    )
    try:
        Fernet(key.encode())
    except ValueError:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY must be a url-safe base64 Fernet key (32 bytes)"
        ) from None
    return key


FIELD_ENCRYPTION_KEY = _fernet_key()

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(f"REDIS_URL must be a redis:// URL, not {REDIS_URL!r}")

# Typed endpoints on loopback and private networks: on for `make run` (DEBUG) and the tests
# (pyproject.toml), off in production unless the clusters to migrate live on a private network.
MIGRATION_ALLOW_PRIVATE_ENDPOINTS = env_bool("MIGRATION_ALLOW_PRIVATE_ENDPOINTS", DEBUG)
CLUSTERS_DIR = Path(os.environ.get("CLUSTERS_DIR", VAR_DIR / "clusters"))
# Failed logins (console/throttle.py): per account from one address, and per address.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_ADDRESS_FAILURE_LIMIT = env_int("LOGIN_ADDRESS_FAILURE_LIMIT", 20, minimum=1)
LOGIN_FAILURE_WINDOW = env_int("LOGIN_FAILURE_WINDOW", 300, minimum=1)
# REST API v2 (console/api): requests per second per API key, and the largest body accepted.
API_RATE_LIMIT = env_int("API_RATE_LIMIT", 20, minimum=1)
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 1024 * 1024, minimum=1024)
# Reverse proxies in front of the console that append to X-Forwarded-For (0: none, the peer
# address is the client). Only this many entries from the right are believed.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
# Connections a user may make the server open to typed endpoints per window (Test connection,
# register, the wizard's reads of a typed source or target, migrations from an endpoint).
CONNECTION_TEST_LIMIT = env_int("CONNECTION_TEST_LIMIT", 20, minimum=1)
CONNECTION_TEST_WINDOW = env_int("CONNECTION_TEST_WINDOW", 60, minimum=1)
# API keys one user may hold at once (each has its own API_RATE_LIMIT).
API_KEYS_PER_USER = env_int("API_KEYS_PER_USER", 10, minimum=1)
# Ports the console's web server listens on on this machine (`make run`'s runserver: 8000; add
# a reverse proxy's on the same machine). Typed endpoints never reach them, nor the ports of
# REDIS_URL and DATABASE_URL (console/clients.py).
WEB_PORTS = env_ports("WEB_PORTS", [8000])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "ninja",  # serves the API docs page's Swagger UI from its bundled static files, no CDN
    "console",
    "migrations_app",
    "jobs",
]

MIDDLEWARE = [
    "console.middleware.ContentSecurityPolicyMiddleware",
    "console.api.middleware.ApiErrorShapeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "console.middleware.IdleSessionMiddleware",
]

ROOT_URLCONF = "console.urls"
WSGI_APPLICATION = "console.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "console.context_processors.tenancy",
            ],
        },
    }
]

# WAL lets the web process read while a worker writes; IMMEDIATE avoids "database is locked"
# upgrades from read to write transactions.
_SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}
_db_url = os.environ.get("DATABASE_URL", "")
if _db_url:
    try:
        DATABASES = {"default": dj_database_url.parse(_db_url, conn_max_age=60)}
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
    if not DATABASES["default"].get("NAME"):
        raise ImproperlyConfigured("DATABASE_URL must name a database, e.g. postgres://u@h/console")
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES["default"]["OPTIONS"] = dict(_SQLITE_OPTIONS)
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "console.sqlite3",
            "OPTIONS": dict(_SQLITE_OPTIONS),
            # A file, not memory: the tests' Celery workers are other processes.
            "TEST": {"NAME": str(VAR_DIR / "test_console.sqlite3")},
        }
    }

AUTH_USER_MODEL = "console.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "clusters"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "console"),
    }
}

# Transport security: safe defaults when DEBUG is off (`manage.py check --deploy` passes);
# `make run` and the tests serve plain http on 127.0.0.1.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", SESSION_COOKIE_SECURE)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
# Believe X-Forwarded-Proto only from a proxy that sets it (behind TRUSTED_PROXY_COUNT proxies).
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https")
    if env_bool("SECURE_PROXY_SSL_HEADER", TRUSTED_PROXY_COUNT > 0)
    else None
)
X_FRAME_OPTIONS = "DENY"
# A session with no request for this many seconds is logged out (console/middleware.py).
SESSION_IDLE_TIMEOUT = env_int("SESSION_IDLE_TIMEOUT", 8 * 3600, minimum=60)

# Content-Security-Policy of every response (console/middleware.py). Scripts and styles come
# only from our own static files: no inline <script>, no on...= handlers, no style=""
# attributes or <style> elements (htmx's indicator style is switched off in base.html).
# img-src allows data: for the Swagger UI's icons (/v2/docs).
DEFAULT_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def _content_security_policy() -> str:
    """CONTENT_SECURITY_POLICY from the environment (e.g. to add a report-uri), else the
    default. Refused: an empty policy, and scripts allowed inline or through eval."""
    raw = os.environ.get("CONTENT_SECURITY_POLICY")
    if raw is None:
        return DEFAULT_CONTENT_SECURITY_POLICY
    policy = raw.strip()
    directives = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            directives.setdefault(words[0].lower(), [w.lower() for w in words[1:]])
    if not directives:
        raise ImproperlyConfigured("CONTENT_SECURITY_POLICY must not be empty")
    scripts = directives.get("script-src", directives.get("default-src"))
    if scripts is None:
        raise ImproperlyConfigured("CONTENT_SECURITY_POLICY must have script-src or default-src")
    for unsafe in ("'unsafe-inline'", "'unsafe-eval'"):
        if unsafe in scripts:
            raise ImproperlyConfigured(
                f"CONTENT_SECURITY_POLICY must not allow scripts {unsafe}, not {raw!r}"
            )
    return policy


CONTENT_SECURITY_POLICY = _content_security_policy()

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns on every start when it is missing
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CELERY_BROKER_URL = REDIS_URL
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
# The queue jobs go through (workers take it by default): consoles, or test sessions, sharing
# one Redis database keep their jobs apart by naming their own.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "celery")
# Longer than the longest job: an unacked job is redelivered only after this.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 12 * 3600, minimum=60)
}
CELERY_TASK_ALWAYS_EAGER = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Jobs (jobs/lifecycle.py). Collections of one job copied at once: on this 2-core reference
# machine 1 and 2 cost about the same wall time (bench/README.md), and 1 leaves the second
# worker slot to another job.
MIGRATION_PARALLEL_COLLECTIONS = env_int("MIGRATION_PARALLEL_COLLECTIONS", 1, minimum=1)
MIGRATION_HEARTBEAT = env_int("MIGRATION_HEARTBEAT", 5, minimum=1)
# Key-range shards (jobs/range_run.py): a collection with more rows than this is copied as
# key ranges, each its own task (several workers copy one collection), at most
# MIGRATION_MAX_SHARDS of them.
MIGRATION_SHARD_ROWS = env_int("MIGRATION_SHARD_ROWS", 2_000_000, minimum=1)
MIGRATION_MAX_SHARDS = env_int("MIGRATION_MAX_SHARDS", 16, minimum=1)
# A collection run's lease lasts this long past its last renewal (jobs/lease.py); a run that
# cannot renew it for this long stops itself.
MIGRATION_STALE_AFTER = env_int("MIGRATION_STALE_AFTER", 60, minimum=2)
# The deadline of every Milvus call a job makes (seconds). The reaper takes a collection over
# only this long after its lease expired: whatever the old run sent in time is done by then.
MIGRATION_CALL_TIMEOUT = env_int("MIGRATION_CALL_TIMEOUT", 300, minimum=1)
if MIGRATION_HEARTBEAT >= MIGRATION_STALE_AFTER:
    raise ImproperlyConfigured(
        f"MIGRATION_HEARTBEAT ({MIGRATION_HEARTBEAT}) must be shorter than MIGRATION_STALE_AFTER "
        f"({MIGRATION_STALE_AFTER}): a lease would expire between two renewals"
    )
MIGRATION_MAX_RESUMES = env_int("MIGRATION_MAX_RESUMES", 3, minimum=0)
MIGRATION_REAPER_EVERY = env_int("MIGRATION_REAPER_EVERY", 30, minimum=1)
MIGRATION_NEW_CLUSTER_WAIT = env_int("MIGRATION_NEW_CLUSTER_WAIT", 300, minimum=5)
# Bytes of rows per copy batch (the engine's default, 16 MB, when 0): a checkpoint and a
# cancel check follow every batch.
MIGRATION_BATCH_BYTES = env_int("MIGRATION_BATCH_BYTES", 0, minimum=0)
# Copy batches in flight to the target at once (the engine's writers.py): 1 writes them one by
# one; more may help a target with cores to spare (bench/writers.py measured none on 2 cores).
MIGRATION_WRITERS = env_int("MIGRATION_WRITERS", 1, minimum=1)
# Queries a copy runs on the source at once (the engine's readers.py), their pages still written
# in key order: 1 reads page after page; more may help a source with cores to spare
# (bench/writers.py --readers measured none on 2 cores).
MIGRATION_READERS = env_int("MIGRATION_READERS", 1, minimum=1)
# A copy stopped by a server error the engine's own retries did not outlast (a server that
# restarted, came back with the collection released) resumes from its checkpoint this often.
MIGRATION_COPY_RESUMES = env_int("MIGRATION_COPY_RESUMES", 2, minimum=0)
# The engine's retry schedule for transient server errors: this many attempts, waiting the
# first delay (seconds) after the first failure and twice as long after each next one, at most
# the max delay. The defaults wait about 35 s in all, enough to outlast a Milvus restart; tests
# shorten them.
MIGRATION_RETRY_ATTEMPTS = env_int("MIGRATION_RETRY_ATTEMPTS", 8, minimum=1)
MIGRATION_RETRY_FIRST_DELAY = env_float("MIGRATION_RETRY_FIRST_DELAY", 0.5)
MIGRATION_RETRY_MAX_DELAY = env_float("MIGRATION_RETRY_MAX_DELAY", 10.0)
if MIGRATION_RETRY_MAX_DELAY < MIGRATION_RETRY_FIRST_DELAY:
    raise ImproperlyConfigured(
        f"MIGRATION_RETRY_MAX_DELAY ({MIGRATION_RETRY_MAX_DELAY:g}) must be >= "
        f"MIGRATION_RETRY_FIRST_DELAY ({MIGRATION_RETRY_FIRST_DELAY:g})"
    )
# Quotas (console/services.py, migrations_app/service.py, jobs/slots.py): what one tenant may
# hold of the machine. A local cluster is a Milvus Lite process (170-230 MB each).
LOCAL_CLUSTERS_PER_ORG = env_int("LOCAL_CLUSTERS_PER_ORG", 5, minimum=0)
# Jobs not final (Pending, In Progress, Canceling) in one project; new ones and Retries are refused.
UNFINISHED_JOBS_PER_PROJECT = env_int("UNFINISHED_JOBS_PER_PROJECT", 20, minimum=1)
# Jobs running (In Progress or Canceling) at once per organization and in the whole console;
# further jobs wait Pending ("waiting for a free slot") and start in fair order as slots free.
# Set RUNNING_JOBS_TOTAL to the workers' total concurrency (each running job keeps
# MIGRATION_PARALLEL_COLLECTIONS of it busy), and RUNNING_JOBS_PER_ORG below it, so that one
# organization cannot hold every worker.
RUNNING_JOBS_PER_ORG = env_int("RUNNING_JOBS_PER_ORG", 4, minimum=1)
RUNNING_JOBS_TOTAL = env_int("RUNNING_JOBS_TOTAL", 8, minimum=1)
# Another organization's credentials stay on a FAILED job this many seconds (for Retry), then
# the reaper removes them; a SUCCESSFUL or CANCELED job loses them when it ends.
MIGRATION_CREDENTIAL_RETENTION = env_int("MIGRATION_CREDENTIAL_RETENTION", 7 * 24 * 3600)

# Notifications when a job ends (jobs/notify.py). The webhook: attempts of one delivery, the
# wait before the second (doubling after each next one, at most WEBHOOK_RETRY_MAX_DELAY), and
# the timeout of every socket operation of an attempt (console/webhook_delivery.py).
WEBHOOK_ATTEMPTS = env_int("WEBHOOK_ATTEMPTS", 4, minimum=1)
WEBHOOK_RETRY_DELAY = env_float("WEBHOOK_RETRY_DELAY", 10.0, minimum=0.1)
WEBHOOK_RETRY_MAX_DELAY = env_float("WEBHOOK_RETRY_MAX_DELAY", 300.0, minimum=0.1)
WEBHOOK_TIMEOUT = env_float("WEBHOOK_TIMEOUT", 5.0, minimum=0.1)
if WEBHOOK_RETRY_MAX_DELAY < WEBHOOK_RETRY_DELAY:
    raise ImproperlyConfigured(
        f"WEBHOOK_RETRY_MAX_DELAY ({WEBHOOK_RETRY_MAX_DELAY:g}) must be >= "
        f"WEBHOOK_RETRY_DELAY ({WEBHOOK_RETRY_DELAY:g})"
    )
# The e-mail to a job's creator: Django's e-mail backend (the console backend, which prints
# mails to the worker's output, with DEBUG on; SMTP otherwise), its sender, and the address
# of the console its "View Details" link starts with.
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "migration-console@localhost")
CONSOLE_URL = os.environ.get("CONSOLE_URL", "http://127.0.0.1:8000").rstrip("/")
if not CONSOLE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(
        f"CONSOLE_URL must be an http:// or https:// URL, not {CONSOLE_URL!r}"
    )

CELERY_BEAT_SCHEDULE = {
    "reap-jobs": {"task": "jobs.reap", "schedule": float(MIGRATION_REAPER_EVERY)},
    "purge-wizard-drafts": {
        "task": "migrations_app.purge_drafts",
        "schedule": float(MIGRATION_REAPER_EVERY),
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "console.redaction.RedactingFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact"]},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
