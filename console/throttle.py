"""Rate limits, shared by every web process through the Redis cache.

Failed logins are counted by django-axes (settings AXES_*), per account+address and per address,
never per account alone: one address hammering an account must not lock its owner out at
another address, and behind the reverse proxy every request must not count as the proxy's
address (`client_ip`). axes increments with Redis' atomic INCR, so parallel failures all count.
A successful login forgets only that account's failures from that address (`forget_account`):
forgetting the address's count too would let one address try a password on a victim after each
login of its own, forever.

Connection tests (`allow_connection_test`) are counted per user: each one makes the server open
a TCP connection somewhere, which must not become a fast port scanner.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta

from axes.helpers import make_cache_key_list
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    """The client's address, trusting X-Forwarded-For only as far as TRUSTED_PROXY_COUNT says.

    Each trusted proxy appends the address it received the request from, so the client is
    the entry the outermost trusted proxy wrote: the Nth from the right for N proxies. Entries
    further left were written by the client and are ignored. A request with fewer entries than
    proxies did not come through them all: its own peer address counts.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if not proxies:
        return remote
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    hops = [h for h in hops if h]
    if len(hops) < proxies:
        return remote
    candidate = hops[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def account(request: HttpRequest, credentials: dict | None) -> str:
    """The account axes counts: the email, lower-cased. The "|" ends it, so that the key axes
    builds by joining account and address ("a@b.io|1.2.3.4") cannot equal another pair's."""
    email = (credentials or {}).get("email") or request.POST.get("email") or ""
    return f"{email.strip().lower()}|"


def failure_limit(request: HttpRequest | None = None, credentials: dict | None = None) -> int:
    return settings.LOGIN_FAILURE_LIMIT


def cool_off(request: HttpRequest | None = None) -> timedelta:
    return timedelta(seconds=settings.LOGIN_FAILURE_WINDOW)


def forget_account(request: HttpRequest, email: str) -> None:
    """After a successful login: forget this account's failures from this address only."""
    pair = {"username": account(request, {"email": email}), "ip_address": client_ip(request)}
    cache.delete_many(make_cache_key_list([pair]))


def allow_connection_test(user_id: int) -> bool:
    """Count one connection test for the user; False once they exceeded the limit in the window.

    add + incr are atomic in Redis, so parallel requests cannot slip past the limit.
    """
    key = f"connection-test:{user_id}"
    cache.add(key, 0, timeout=settings.CONNECTION_TEST_WINDOW)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr: this is the first of a new window
        cache.add(key, 1, timeout=settings.CONNECTION_TEST_WINDOW)
        count = 1
    return count <= settings.CONNECTION_TEST_LIMIT
