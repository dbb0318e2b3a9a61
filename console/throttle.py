"""Failed-login throttling, shared by every web process through the Redis cache."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache


def _keys(email: str, ip: str) -> list[str]:
    return [f"login-fail:email:{email.lower()}", f"login-fail:ip:{ip}"]


def is_locked(email: str, ip: str) -> bool:
    return any((cache.get(key) or 0) >= settings.LOGIN_FAILURE_LIMIT for key in _keys(email, ip))


def record_failure(email: str, ip: str) -> None:
    for key in _keys(email, ip):
        cache.add(key, 0, timeout=settings.LOGIN_FAILURE_WINDOW)
        cache.incr(key)


def reset(email: str, ip: str) -> None:
    cache.delete_many(_keys(email, ip))
