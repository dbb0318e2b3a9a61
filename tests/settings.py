"""Settings of the test suite: production's (console/settings.py, parsed as strictly), with a
fast password hasher.

Django's default PBKDF2 costs ~0.8 s per hash on the 2-core reference machine; the persona
fixtures create hundreds of users and log in dozens of times per pass. Salted MD5 is worthless
against a stolen database but fine for test users, and it still salts, encodes and verifies
through the same `check_password` path. pyproject.toml points pytest-django here, and every
process a test starts (Celery workers, manage.py, beat) inherits DJANGO_SETTINGS_MODULE from
the pytest process. tests/test_settings.py proves production keeps Django's default.
"""

import os
import re

# pytest-xdist: each test process gets a Redis database of its own (the Celery queues, the
# throttle counters and the cache of one process must never meet another's). Worker gwN uses the
# database N below the one REDIS_URL names (scripts/test.sh leaves room below 15). The workers'
# own Celery and manage.py processes inherit both variables: the mark stops them shifting again.
_xdist = os.environ.get("PYTEST_XDIST_WORKER", "")
if _xdist.startswith("gw") and os.environ.get("TESTS_REDIS_SHIFTED") != _xdist:
    _url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    _match = re.fullmatch(r"(redis://[^/]+)/(\d+)", _url)
    if _match is None:
        raise RuntimeError(f"tests under pytest-xdist need REDIS_URL ending in /<db>: {_url}")
    _db = int(_match[2]) - int(_xdist[2:])
    if _db < 0:
        raise RuntimeError(f"not enough Redis databases below {_url} for worker {_xdist}")
    os.environ["REDIS_URL"] = f"{_match[1]}/{_db}"
    os.environ["TESTS_REDIS_SHIFTED"] = _xdist

from console.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
