"""Settings of the test suite: production's (console/settings.py, parsed as strictly), with a
fast password hasher.

Django's default PBKDF2 costs ~0.8 s per hash on the 2-core reference machine; the persona
fixtures create hundreds of users and log in dozens of times per pass. Salted MD5 is worthless
against a stolen database but fine for test users, and it still salts, encodes and verifies
through the same `check_password` path. pyproject.toml points pytest-django here, and every
process a test starts (Celery workers, manage.py, beat) inherits DJANGO_SETTINGS_MODULE from
the pytest process. tests/test_settings.py proves production keeps Django's default.
"""

from console.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
